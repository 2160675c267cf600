# cmake -DINPUT=scan_serving.py -DOUTPUT=scan_serving_script.cpp -P embed.cmake
# Writes a C++ file defining kReplayScanServingScript, the text of INPUT, so that the `replay`
# binary carries its serving-scan analyser and needs no file beside it.
file(READ "${INPUT}" text)
string(FIND "${text}" ")SCANPY\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )SCANPY\"")
endif()
set(content "// Generated from ${INPUT} by embed.cmake: do not edit.\n")
string(APPEND content "extern \"C\" const char kReplayScanServingScript[] = R\"SCANPY(${text})SCANPY\";\n")
# Rewrite only on change, so an unchanged script does not rebuild the library.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")

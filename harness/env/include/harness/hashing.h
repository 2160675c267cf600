#pragma once
/// Streaming SHA-256 of files (OpenSSL EVP, so the CPU's SHA instructions are used), several
/// files in parallel. Used by fingerprints; public so the hashing benchmark can call it.

#include <cstdint>
#include <string>
#include <vector>

namespace replay {

struct FileDigest {
  std::string path;
  std::string sha256;       ///< 64 lowercase hex digits
  uint64_t size_bytes = 0;  ///< bytes hashed
};

/// SHA-256 of one file, read in large sequential blocks. Throws Error kInput "env.artifact"
/// when the file cannot be opened or read.
FileDigest sha256_file(const std::string& path);

/// SHA-256 of each file, `threads` at a time (0 = hardware concurrency); results in the order
/// of `paths`. Throws the first file's error after all workers have stopped.
std::vector<FileDigest> sha256_files(const std::vector<std::string>& paths, int threads = 0);

/// SHA-256 of bytes in memory (hex).
std::string sha256_hex(const void* data, size_t size_bytes);

}  // namespace replay

#pragma once
/// Tensors at the edges: the JSON tensor form, nested JSON lists, .npy and .npz files.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/tensor.h"

namespace replay {

/// True for {"dtype": ..., "shape": [...], "data": [...]} (the documented JSON tensor form).
bool is_json_tensor_object(const nlohmann::json& value);
bool is_json_tensor_object(const nlohmann::ordered_json& value);

/// Parses the JSON tensor form or nested lists of numbers/bools (rectangular).
/// Nested lists give float64 (any non-integer number), int64 (all integers) or bool, with
/// dtype_inferred() set. JSON null elements become NaN (floating). `where` names the place in
/// error messages ("capture.json: /stages/features/x"). Throws Error kInput "tensor.json".
/// Decodes straight from the value given (either flavour: a capture's ordered_json is not copied
/// first); at most 16 bytes per element besides the tensor, and an element's place is spelled
/// only in a message.
Tensor tensor_from_json(const std::string& name, const nlohmann::json& value,
                        const std::string& where);
Tensor tensor_from_json(const std::string& name, const nlohmann::ordered_json& value,
                        const std::string& where);

/// The JSON tensor form; floats written so that they round-trip; NaN/Inf as the strings
/// "NaN", "Infinity", "-Infinity" (accepted back by tensor_from_json).
nlohmann::json tensor_to_json(const Tensor& tensor);

/// .npy (format 1.0-3.0, either byte order, C order; a Fortran-order file is refused with a
/// clear error rather than silently reinterpreted).
/// Large files are memory-mapped, not copied. Throws Error kInput "tensor.npy".
Tensor read_npy(const std::string& path, const std::string& name = "");
void write_npy(const std::string& path, const Tensor& tensor);
/// .npy bytes already in memory (e.g. from a command step's answer); the tensor keeps them.
/// `where` names them in messages. Throws Error kInput "tensor.npy".
Tensor npy_from_bytes(std::string bytes, const std::string& name, const std::string& where);

/// .npz (stored or deflated), every array by its name without ".npy". Throws "tensor.npz".
std::vector<Tensor> read_npz(const std::string& path);
void write_npz(const std::string& path, const std::vector<Tensor>& tensors);

}  // namespace replay

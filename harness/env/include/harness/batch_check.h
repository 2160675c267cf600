#pragma once
/// The dynamic half of "served without eval()": the same input run alone and inside a batch of
/// other inputs. A model that is batch-invariant gives the same row both ways; a difference
/// means batch-dependent behaviour (a batch-norm left in training mode, or kernels whose result
/// depends on the batch size) and is reported as such.

#include <cstdint>
#include <string>
#include <vector>

#include "harness/backend.h"

namespace replay {

struct BatchCheckOptions {
  std::vector<int64_t> row_shape;  ///< one input without the batch dimension, e.g. {16}
  int batch_size = 8;              ///< rows in the batch the probe is placed in (>= 2)
  int probe_row = 3;               ///< where the probe sits in the batch (taken modulo batch)
  uint64_t seed = 20240611;        ///< inputs are N(0,1) from this seed: runs are repeatable
  double atol = 1e-6;              ///< |alone - batched| <= atol + rtol * |alone| passes
  double rtol = 1e-5;
  BackendOptions backend;          ///< force_training_mode reproduces serving without eval()
};

struct BatchCheckResult {
  bool batch_invariant = true;   ///< every output within atol/rtol
  bool bit_identical = true;     ///< every output exactly equal
  double max_abs_diff = 0;       ///< over every output element of the probe row
  std::string worst_output;      ///< the output name where max_abs_diff was found
  std::string backend_version;
  std::vector<std::string> training_submodules;  ///< as saved in the archive
  std::string verdict;           ///< one sentence for people
};

/// Runs the check on a float32 model with one input whose first dimension is the batch.
/// Throws Error kModel ("model.*") when the model cannot be loaded or rejects the input, and
/// Error kUsage "env.batch_check" for a bad row shape or batch size.
BatchCheckResult check_batch_invariance(const std::string& model_path,
                                        const BatchCheckOptions& options);

}  // namespace replay

// Batch invariance: the probe row alone (batch of 1) against the same row inside a batch of
// other rows, through the local backend.
#include "harness/batch_check.h"

#include <cmath>
#include <random>
#include <sstream>

#include "harness/error.h"

namespace replay {
namespace {

Tensor batch_of(const std::vector<std::vector<double>>& rows, const std::vector<int64_t>& row_shape) {
  std::vector<int64_t> shape = {static_cast<int64_t>(rows.size())};
  shape.insert(shape.end(), row_shape.begin(), row_shape.end());
  std::vector<double> values;
  for (const auto& row : rows) values.insert(values.end(), row.begin(), row.end());
  return Tensor::from_doubles("input", DType::kFloat32, shape, values);
}

}  // namespace

BatchCheckResult check_batch_invariance(const std::string& model_path,
                                        const BatchCheckOptions& options) {
  if (options.batch_size < 2) fail_usage("env.batch_check", "--batch-size must be at least 2");
  int64_t row_size = 1;
  for (int64_t dim : options.row_shape) {
    if (dim <= 0) fail_usage("env.batch_check", "--row-shape dimensions must be positive");
    row_size *= dim;
  }
  if (options.row_shape.empty()) fail_usage("env.batch_check", "--row-shape is required (e.g. 16 or 3x32x32)");

  std::mt19937_64 generator(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<std::vector<double>> rows(static_cast<size_t>(options.batch_size),
                                        std::vector<double>(static_cast<size_t>(row_size)));
  for (auto& row : rows) {
    for (double& value : row) value = normal(generator);
  }
  const size_t probe = static_cast<size_t>(options.probe_row) % rows.size();

  auto backend = default_backend_factory()->open(model_path, options.backend);
  BatchCheckResult result;
  result.backend_version = backend->info().backend_version;
  result.training_submodules = backend->info().training_submodules;
  const std::vector<Tensor> alone = backend->run({batch_of({rows[probe]}, options.row_shape)});
  const std::vector<Tensor> batched = backend->run({batch_of(rows, options.row_shape)});
  if (alone.size() != batched.size()) {
    fail_model("model.run", "the model returned " + std::to_string(alone.size()) +
                                " outputs for one row and " + std::to_string(batched.size()) +
                                " for a batch");
  }
  for (size_t i = 0; i < alone.size(); ++i) {
    const std::vector<double> single = alone[i].to_doubles();
    const std::vector<double> all = batched[i].to_doubles();
    if (alone[i].shape().empty() || batched[i].shape().empty() ||
        batched[i].shape()[0] != options.batch_size || alone[i].shape()[0] != 1 ||
        all.size() != single.size() * rows.size()) {
      fail_model("model.run", "output '" + alone[i].name() +
                                  "' does not keep the batch as its first dimension; the batch "
                                  "check needs it");
    }
    for (size_t k = 0; k < single.size(); ++k) {
      const double reference = single[k];
      const double other = all[probe * single.size() + k];
      const double diff = std::fabs(reference - other);
      if (!(reference == other)) result.bit_identical = false;
      if (!(diff <= options.atol + options.rtol * std::fabs(reference))) result.batch_invariant = false;
      if (diff > result.max_abs_diff || std::isnan(diff)) {
        result.max_abs_diff = diff;
        result.worst_output = alone[i].name();
      }
    }
  }

  std::ostringstream verdict;
  if (result.bit_identical) {
    verdict << "Batch-invariant: the probe row gives bit-identical outputs alone and in a batch of "
            << options.batch_size << ".";
  } else if (result.batch_invariant) {
    verdict << "Batch-invariant within tolerance: the probe row differs by at most "
            << result.max_abs_diff << " alone vs in a batch of " << options.batch_size
            << " (kernels that block by batch size; last-bit differences).";
  } else {
    verdict << "Batch-dependent: the probe row's output '" << result.worst_output
            << "' differs by " << result.max_abs_diff << " alone vs in a batch of "
            << options.batch_size
            << ". A batch-norm left in training mode (normalising with each batch's statistics) "
               "or dropout does this; so do kernels that are not batch-invariant.";
    if (!result.training_submodules.empty()) {
      verdict << " The archive was saved with training=True on " << result.training_submodules.size()
              << " submodule(s); serve it after eval().";
    }
  }
  result.verdict = verdict.str();
  return result;
}

}  // namespace replay

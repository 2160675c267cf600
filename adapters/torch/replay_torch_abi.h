/* The C ABI between replay and its LibTorch module (libreplay_torch.so), loaded with dlopen.
 *
 * Why C and not C++ types: the module and the executable are separate builds of separate
 * objects. Across a plain C boundary nothing depends on both sides agreeing on std::string,
 * std::vector, nlohmann::json or exception layouts (a module built by another compiler, another
 * libstdc++ ABI or an older checkout fails the version check below, never in a destructor);
 * no exception can cross, because every entry point returns a status and fills an error
 * out-parameter; and a module from other sources is detected with one call before anything else
 * is touched. The price is this header and the small adapter in torch_backend_factory.cpp.
 *
 * Rules for both sides:
 *   - The loader calls replay_torch_abi_version() first and uses nothing else when it differs
 *     from REPLAY_TORCH_ABI_VERSION. Change the version whenever anything below changes.
 *   - Every other function returns REPLAY_TORCH_OK (0) or REPLAY_TORCH_FAILED (1) and, on
 *     failure, fills *error (id like "model.run", one-line message). Nothing throws.
 *   - Results are handed to caller-supplied sinks, called during the call; pointers given to a
 *     sink are valid only for that call. A sink returns 0 to go on, non-zero to stop the call
 *     (which then fails with id "model.sink"; the caller knows why).
 *   - Tensors are row-major and contiguous, on the host.
 */
#ifndef REPLAY_TORCH_ABI_H_
#define REPLAY_TORCH_ABI_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REPLAY_TORCH_ABI_VERSION 2u

#define REPLAY_TORCH_OK 0
#define REPLAY_TORCH_FAILED 1

/* dtype codes (stable; 0 means "none" where a dtype is optional) */
#define REPLAY_TORCH_DTYPE_NONE 0
#define REPLAY_TORCH_DTYPE_BOOL 1
#define REPLAY_TORCH_DTYPE_UINT8 2
#define REPLAY_TORCH_DTYPE_INT8 3
#define REPLAY_TORCH_DTYPE_INT16 4
#define REPLAY_TORCH_DTYPE_INT32 5
#define REPLAY_TORCH_DTYPE_INT64 6
#define REPLAY_TORCH_DTYPE_FLOAT16 7
#define REPLAY_TORCH_DTYPE_BFLOAT16 8
#define REPLAY_TORCH_DTYPE_FLOAT32 9
#define REPLAY_TORCH_DTYPE_FLOAT64 10

typedef struct replay_torch_error {
  char id[64];        /* stable error id without the "replay." prefix, e.g. "model.run" */
  char message[4096]; /* one line; truncated with "..." when longer */
} replay_torch_error;

/* A tensor view. */
typedef struct replay_torch_tensor {
  const char* name;
  int32_t dtype; /* REPLAY_TORCH_DTYPE_* */
  int32_t ndim;
  const int64_t* shape;
  const void* data;
  uint64_t nbytes;
} replay_torch_tensor;

/* How a model runs: where, with how many threads, and the reproductions of production
 * mis-settings (all off by default). */
typedef struct replay_torch_options {
  const char* device;         /* "cpu", "cuda", "cuda:N"; NULL or "" at run time: as opened */
  int32_t num_threads;        /* intra-op threads; 0: as opened (LibTorch's default at open) */
  int32_t training_mode;      /* 1: train(), batch-norm on batch statistics, dropout kept off */
  int32_t emulate_tf32;       /* 1: TF32 matmuls and convolutions */
  int32_t run_dtype;          /* FLOAT16 / BFLOAT16: the model run in that dtype; NONE: as saved */
  int32_t round_inputs_dtype; /* FLOAT16 / BFLOAT16: only the inputs rounded through it */
} replay_torch_options;

/* One value of the inlined forward graph ("mark all"). */
typedef struct replay_torch_node {
  int64_t index;           /* position in graph order, 0-based */
  const char* id;          /* stable within an archive: "fc1/linear", "block.bn/batch_norm#1" */
  const char* kind;        /* "aten::linear"; "input" for the graph's inputs */
  const char* module_path; /* "fc1", "block.bn"; "" for the root module */
  const char* source_file; /* as recorded in the archive; "" when unknown */
  int64_t source_line;     /* 1-based; 0 when unknown */
  const char* source_text; /* the whole source line, trimmed; "" when unknown */
  replay_torch_tensor value;
} replay_torch_node;

/* A column of strings, for the TorchScript preprocessing contract (run_records). */
typedef struct replay_torch_string_column {
  const char* name;
  int64_t count;
  const char* const* values;
  const uint64_t* sizes;
} replay_torch_string_column;

typedef int (*replay_torch_tensor_sink)(void* context, const replay_torch_tensor* tensor);
typedef int (*replay_torch_node_sink)(void* context, const replay_torch_node* node);
typedef int (*replay_torch_text_sink)(void* context, const char* text, uint64_t size);

typedef struct replay_torch_model replay_torch_model; /* opaque */

/* REPLAY_TORCH_ABI_VERSION of the build the module comes from. */
uint32_t replay_torch_abi_version(void);

/* Loads a TorchScript archive. Errors: model.missing, model.load, model.device. */
int replay_torch_open(const char* model_path, const replay_torch_options* options,
                      replay_torch_model** model, replay_torch_error* error);
void replay_torch_close(replay_torch_model* model);

/* The model's facts as one JSON object (path, device, versions, training flags, forward
 * schema, notes); see ModelInfo in harness/backend.h. */
int replay_torch_info(const replay_torch_model* model, replay_torch_text_sink sink, void* context,
                      replay_torch_error* error);

/* forward(inputs...). `variant` NULL: as opened. Outputs are named "output" (one tensor),
 * "output0".. (tuple or list), or by key (dict); a dtype variant's floating outputs come back
 * as float32. Errors: model.run, model.device. */
int replay_torch_run(replay_torch_model* model, const replay_torch_options* variant,
                     const replay_torch_tensor* inputs, int64_t input_count,
                     replay_torch_tensor_sink sink, void* context, replay_torch_error* error);

/* forward(inputs...) with every tensor value of the inlined graph's top-level block marked as
 * an output, in graph order, the graph's inputs first (kind "input"). Values keep the dtype
 * they were computed in. */
int replay_torch_run_all(replay_torch_model* model, const replay_torch_options* variant,
                         const replay_torch_tensor* inputs, int64_t input_count,
                         replay_torch_node_sink sink, void* context, replay_torch_error* error);

/* forward(numbers: Dict[str, Tensor]) or forward(numbers, strings: Dict[str, List[str]]): the
 * TorchScript preprocessing contract (README "Preprocessing with TorchScript"). */
int replay_torch_run_records(replay_torch_model* model, const replay_torch_tensor* numbers,
                             int64_t number_count, const replay_torch_string_column* strings,
                             int64_t string_count, replay_torch_tensor_sink sink, void* context,
                             replay_torch_error* error);

/* How `variant` (NULL: as opened) runs, as a JSON array of sentences: the training-mode
 * statement, what the TF32 emulation covered, whether a dtype ran natively or emulated (known
 * once the variant has run). */
int replay_torch_variant_notes(replay_torch_model* model, const replay_torch_options* variant,
                               replay_torch_text_sink sink, void* context,
                               replay_torch_error* error);

/* LibTorch runtime facts (versions, CUDA, TF32 and determinism flags, threads) as JSON. */
int replay_torch_runtime_fingerprint(replay_torch_text_sink sink, void* context,
                                     replay_torch_error* error);
/* Facts about a TorchScript archive (format version, training flags, batch-norm and dropout
 * modules) as JSON. Errors: model.load. */
int replay_torch_archive_fingerprint(const char* model_path, replay_torch_text_sink sink,
                                     void* context, replay_torch_error* error);

typedef uint32_t (*replay_torch_abi_version_fn)(void);
typedef int (*replay_torch_open_fn)(const char*, const replay_torch_options*, replay_torch_model**,
                                    replay_torch_error*);
typedef void (*replay_torch_close_fn)(replay_torch_model*);
typedef int (*replay_torch_info_fn)(const replay_torch_model*, replay_torch_text_sink, void*,
                                    replay_torch_error*);
typedef int (*replay_torch_run_fn)(replay_torch_model*, const replay_torch_options*,
                                   const replay_torch_tensor*, int64_t, replay_torch_tensor_sink,
                                   void*, replay_torch_error*);
typedef int (*replay_torch_run_all_fn)(replay_torch_model*, const replay_torch_options*,
                                       const replay_torch_tensor*, int64_t, replay_torch_node_sink,
                                       void*, replay_torch_error*);
typedef int (*replay_torch_run_records_fn)(replay_torch_model*, const replay_torch_tensor*, int64_t,
                                           const replay_torch_string_column*, int64_t,
                                           replay_torch_tensor_sink, void*, replay_torch_error*);
typedef int (*replay_torch_variant_notes_fn)(replay_torch_model*, const replay_torch_options*,
                                             replay_torch_text_sink, void*, replay_torch_error*);
typedef int (*replay_torch_runtime_fingerprint_fn)(replay_torch_text_sink, void*,
                                                   replay_torch_error*);
typedef int (*replay_torch_archive_fingerprint_fn)(const char*, replay_torch_text_sink, void*,
                                                   replay_torch_error*);

#ifdef __cplusplus
}
#endif

#endif /* REPLAY_TORCH_ABI_H_ */

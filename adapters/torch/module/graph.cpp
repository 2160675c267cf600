// Graph work on a copy of forward(): inlining, the CPU emulations of TF32 and of running in a
// narrower dtype (operators of ours inserted into the graph), and "mark all" (every tensor value
// of the top-level block returned, Polygraphy's idea carried over to TorchScript).
// Builds against LibTorch 1.13 and 2.x: the IR calls used here (Inline, callstack(),
// SourceRange, AliasDb::hasWriters, createTuple) have the same shape in both.
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/library.h>

#include <cstring>
#include <set>

#include "torch_module.h"

namespace replay::torch_module {
namespace {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// ---- the operators the rewrites insert -------------------------------------------------------

// TF32 keeps float32's 8-bit exponent and 10 of its 23 mantissa bits: round to nearest even at
// bit 13 of the bit pattern. Inf and NaN pass through unchanged.
at::Tensor round_tf32(const at::Tensor& x) {
  if (x.scalar_type() != at::kFloat) return x.clone();
  at::Tensor host = x.to(at::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
  float* values = host.data_ptr<float>();
  const int64_t count = host.numel();
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], sizeof(bits));
    if ((bits & 0x7f800000u) == 0x7f800000u) continue;
    bits += 0x00000fffu + ((bits >> 13) & 1u);
    bits &= ~uint32_t{0x1fff};
    std::memcpy(&values[i], &bits, sizeof(bits));
  }
  return x.device().is_cpu() ? host : host.to(x.device());
}

// A floating tensor rounded through `scalar_type` and back to its own dtype; other tensors
// copied (the JIT treats the result as a fresh value, so it must not alias the input).
at::Tensor round_through(const at::Tensor& x, int64_t scalar_type) {
  const auto target = static_cast<at::ScalarType>(scalar_type);
  if (!at::isFloatingType(x.scalar_type()) || x.scalar_type() == target) return x.clone();
  return x.to(target).to(x.scalar_type());
}

TORCH_LIBRARY(replay, m) {
  m.def("round_tf32(Tensor x) -> Tensor", &round_tf32);
  m.def("round_through(Tensor x, int scalar_type) -> Tensor", &round_through);
}

// Where to insert what must come first in the graph (constants): the first node, which for an
// empty block is the return node (the list's sentinel).
Node* first_node(Graph& graph) {
  auto nodes = graph.block()->nodes();
  return nodes.begin() == nodes.end() ? graph.return_node() : *nodes.begin();
}

bool is_ours(const Node* node) {
  return std::strncmp(node->kind().toQualString(), "replay::", 8) == 0;
}

bool is_tensor(const Value* value) { return value->type()->kind() == c10::TypeKind::TensorType; }

// ---- TF32 ----------------------------------------------------------------------------------

// The operands tensor cores see in TF32 (cuBLAS for matmuls, cuDNN for convolutions).
const std::vector<size_t>* tf32_operands(const Node* node) {
  static const std::map<std::string, std::vector<size_t>> kOperands = {
      {"aten::linear", {0, 1}},
      {"aten::matmul", {0, 1}},
      {"aten::mm", {0, 1}},
      {"aten::bmm", {0, 1}},
      {"aten::mv", {0, 1}},
      {"aten::addmm", {1, 2}},
      {"aten::addmv", {1, 2}},
      {"aten::baddbmm", {1, 2}},
      {"aten::addbmm", {1, 2}},
      {"aten::tensordot", {0, 1}},
      {"aten::bilinear", {0, 1, 2}},
      {"aten::conv1d", {0, 1}},
      {"aten::conv2d", {0, 1}},
      {"aten::conv3d", {0, 1}},
      {"aten::conv_transpose1d", {0, 1}},
      {"aten::conv_transpose2d", {0, 1}},
      {"aten::conv_transpose3d", {0, 1}},
      {"aten::convolution", {0, 1}},
      {"aten::_convolution", {0, 1}}};
  const auto found = kOperands.find(node->kind().toQualString());
  return found == kOperands.end() ? nullptr : &found->second;
}

// Ops that use TF32 on a GPU whose operands the emulation cannot reach from the graph.
bool tf32_uncovered(const Node* node) {
  static const std::set<std::string> kUncovered = {"aten::lstm",
                                                   "aten::gru",
                                                   "aten::rnn_tanh",
                                                   "aten::rnn_relu",
                                                   "aten::scaled_dot_product_attention",
                                                   "aten::_native_multi_head_attention",
                                                   "aten::chain_matmul",
                                                   "aten::linalg_multi_dot"};
  return kUncovered.count(node->kind().toQualString()) > 0;
}

Value* insert_round_tf32(Graph& graph, Value* operand, Node* before) {
  Node* round = graph.create(round_tf32_symbol(), {operand}, 1);
  round->insertBefore(before);
  round->output()->setType(operand->type());
  return round->output();
}

void round_tf32_in(Graph& graph, Block* block, std::map<std::string, int>* covered,
                   std::map<std::string, int>* uncovered) {
  for (Node* node : block->nodes()) {
    for (Block* inner : node->blocks()) round_tf32_in(graph, inner, covered, uncovered);
    const std::string kind = node->kind().toQualString();
    if (kind == "aten::einsum" && node->inputs().size() >= 2 &&
        node->input(1)->node()->kind() == c10::prim::ListConstruct) {
      Node* list = node->input(1)->node();
      for (size_t i = 0; i < list->inputs().size(); ++i) {
        if (is_tensor(list->input(i))) {
          list->replaceInput(i, insert_round_tf32(graph, list->input(i), list));
        }
      }
      ++(*covered)[kind];
      continue;
    }
    if (kind == "aten::einsum" || tf32_uncovered(node)) {
      ++(*uncovered)[kind];
      continue;
    }
    const std::vector<size_t>* operands = tf32_operands(node);
    if (operands == nullptr) continue;
    for (size_t index : *operands) {
      if (index >= node->inputs().size() || !is_tensor(node->input(index))) continue;
      node->replaceInput(index, insert_round_tf32(graph, node->input(index), node));
    }
    ++(*covered)[kind];
  }
}

std::string counts_text(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [kind, count] : counts) {
    out += (out.empty() ? "" : ", ") + std::to_string(count) + " " + kind;
  }
  return out;
}

// ---- narrower dtypes -------------------------------------------------------------------------

void round_dtype_in(Graph& graph, Block* block, Value* dtype_constant) {
  for (Node* node : block->nodes()) {
    for (Block* inner : node->blocks()) round_dtype_in(graph, inner, dtype_constant);
    const auto kind = node->kind();
    if (is_ours(node) || kind == c10::prim::Constant || kind == c10::prim::GetAttr ||
        kind == c10::prim::If || kind == c10::prim::Loop) {
      continue;
    }
    Node* after = node;
    for (Value* output : node->outputs()) {
      if (!is_tensor(output) || !output->hasUses()) continue;
      Node* round = graph.create(round_through_symbol(), {output, dtype_constant}, 1);
      round->insertAfter(after);
      round->output()->setType(output->type());
      output->replaceAllUsesAfterNodeWith(round, round->output());
      after = round;
    }
  }
}

// ---- mark all ------------------------------------------------------------------------------

std::string trim(std::string text) {
  const char* space = " \t\r\n";
  text.erase(0, text.find_first_not_of(space));
  const size_t end = text.find_last_not_of(space);
  text.erase(end == std::string::npos ? 0 : end + 1);
  return text;
}

// "fc1", "block.bn": the module instances the node was inlined through. Calls on `self` (a
// method of the same module) and free functions add nothing.
std::string module_path_of(const Node* node) {
  std::string path;
  const auto callstack = node->callstack();
  if (!callstack) return path;
  for (const auto& entry : (*callstack)->vec()) {
    const auto& instance = std::get<2>(entry);
    if (!instance) continue;
    const std::string name = instance->instance_name();
    if (name.empty() || name == "SELF" || name == "INSTANCE_NAME_UNKNOWN") continue;
    path += (path.empty() ? "" : ".") + name;
  }
  return path;
}

// The source line the archive records for the node: the original source (debug info) when the
// archive has it, else the serialized code.
void fill_source(const Node* node, NodeMeta* meta) {
  torch::jit::SourceRange range = node->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated()) range = *original;
  const auto& source = range.source();
  if (!source || source->size() == 0) return;
  const size_t line = source->lineno_for_offset(range.start());
  meta->source_line =
      static_cast<int64_t>(source->lineno_to_source_lineno(line)) + (source->filename() ? 0 : 1);
  if (source->filename()) meta->source_file = *source->filename();
  meta->source_text = trim(source->get_line(line).str());
}

std::string short_kind(const Node* node) {
  const std::string kind = node->kind().toQualString();
  const size_t colons = kind.rfind("::");
  return colons == std::string::npos ? kind : kind.substr(colons + 2);
}

// The debug name without its uniquing suffix: "x.1" -> "x".
std::string base_name(const Value* value, size_t index) {
  if (!value->hasDebugName()) return std::to_string(index);
  std::string name = value->debugName();
  const size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot + 1 < name.size() &&
      name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
    name.erase(dot);
  }
  return name;
}

// What a value is reported as: its rounded twin when the dtype emulation rounded it.
Value* reported(Value* value) {
  for (const auto& use : value->uses()) {
    if (use.user->kind() == round_through_symbol()) return use.user->output();
  }
  return value;
}

}  // namespace

c10::Symbol round_tf32_symbol() {
  static const c10::Symbol symbol = c10::Symbol::fromQualString("replay::round_tf32");
  return symbol;
}

c10::Symbol round_through_symbol() {
  static const c10::Symbol symbol = c10::Symbol::fromQualString("replay::round_through");
  return symbol;
}

std::shared_ptr<Graph> inlined_forward(const torch::jit::Module& module) {
  std::shared_ptr<Graph> graph = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  return graph;
}

std::string insert_tf32_rounding(Graph& graph) {
  std::map<std::string, int> covered, uncovered;
  round_tf32_in(graph, graph.block(), &covered, &uncovered);
  std::string note = covered.empty()
                         ? "TF32 emulation: the graph has no matmul, linear or convolution node"
                         : "TF32 emulation rounds both operands of " + counts_text(covered);
  if (!uncovered.empty()) {
    note += "; not covered (their matmuls are inside the operator): " + counts_text(uncovered);
  }
  return note;
}

void insert_dtype_rounding(Graph& graph, at::ScalarType dtype) {
  Value* constant = nullptr;
  {
    torch::jit::WithInsertPoint at_start(first_node(graph));
    constant = graph.insertConstant(static_cast<int64_t>(dtype));
  }
  round_dtype_in(graph, graph.block(), constant);
}

std::vector<NodeMeta> mark_all_values(Graph& graph) {
  std::vector<NodeMeta> metas;
  std::vector<Value*> values;
  for (size_t i = 0; i < graph.inputs().size(); ++i) {
    Value* input = graph.inputs()[i];
    if (!is_tensor(input)) continue;  // self, and non-tensor arguments
    NodeMeta meta;
    meta.id = "input/" + base_name(input, i);
    meta.kind = "input";
    metas.push_back(meta);
    values.push_back(input);
  }
  std::map<std::string, int> seen;  // per module path and kind, for "#n"
  for (Node* node : graph.nodes()) {
    const auto kind = node->kind();
    if (is_ours(node) || kind == c10::prim::Constant || kind == c10::prim::GetAttr) continue;
    size_t tensor_outputs = 0;
    for (const Value* output : node->outputs()) tensor_outputs += is_tensor(output) ? 1 : 0;
    if (tensor_outputs == 0) continue;
    NodeMeta meta;
    meta.kind = kind.toQualString();
    meta.module_path = module_path_of(node);
    fill_source(node, &meta);
    std::string id = (meta.module_path.empty() ? "" : meta.module_path + "/") + short_kind(node);
    const int repeat = seen[id]++;
    if (repeat > 0) id += "#" + std::to_string(repeat);
    size_t index = 0;
    for (Value* output : node->outputs()) {
      if (!is_tensor(output)) continue;
      meta.id = tensor_outputs > 1 ? id + ":" + std::to_string(index++) : id;
      metas.push_back(meta);
      values.push_back(reported(output));
    }
  }

  // A value a later node writes in place would be returned as it ends up, not as it was made:
  // snapshot those where they are made.
  std::vector<bool> snapshot(values.size(), false);
  {
    std::shared_ptr<Graph> shared(&graph, [](Graph*) {});  // AliasDb wants a shared_ptr
    torch::jit::AliasDb aliases(shared);
    for (size_t i = 0; i < values.size(); ++i) snapshot[i] = aliases.hasWriters(values[i]);
  }
  Value* none = nullptr;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!snapshot[i]) continue;
    Value* value = values[i];
    Node* definer = value->node();
    const bool is_input = definer->kind() == c10::prim::Param;
    if (none == nullptr) {
      torch::jit::WithInsertPoint at_start(first_node(graph));
      none = graph.insertNode(graph.createNone())->output();
    }
    Node* copy = graph.create(c10::aten::clone, {value, none}, 1);
    if (is_input) {
      copy->insertAfter(none->node());
    } else {
      copy->insertAfter(definer);
    }
    copy->output()->setType(value->type());
    values[i] = copy->output();
  }

  Node* tuple = graph.createTuple(values);
  graph.insertNode(tuple);
  while (!graph.outputs().empty()) graph.eraseOutput(graph.outputs().size() - 1);
  graph.registerOutput(tuple->output());
  return metas;
}

}  // namespace replay::torch_module

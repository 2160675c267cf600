"""replay's serving-code scan: reads Python serving code with Python's own parser (ast) and reports
models served without eval(), models run with autograd on, and the numerics settings the code
makes (TF32, determinism, reduced precision).

Run by `replay env --scan-serving DIR` (the text of this file is compiled into the binary and fed
to a python3 on stdin), or directly:

    python3 scan_serving.py DIR [--jobs N]

Writes one JSON document (schema "replay.scan_serving") to stdout. Standard library only, Python
3.8 or newer. The rules are documented in docs/env.md ("--scan-serving").

The analysis has two phases. Phase 1 parses each file (in parallel) and reduces it to a small
picklable summary: per function, the assignments, eval()/train() calls, calls that may run a
model, calls to other functions and whether each sits in a grad-free context. Phase 2 links the
summaries over the whole tree (imports, classes and their bases, the call graph) and decides.
"""

import sys

if sys.version_info < (3, 8):  # before anything a newer Python is needed for
    sys.stderr.write(
        "scan_serving: Python 3.8 or newer is needed, this is %d.%d\n" % sys.version_info[:2]
    )
    sys.exit(3)

import ast  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

SCHEMA = "replay.scan_serving"
SCHEMA_VERSION = 1
MIN_PYTHON = (3, 8)

# ----------------------------------------------------------------------------------------------
# Knowledge tables. Qualified names are those of the import ("torch.jit.load" whatever the alias).
# ----------------------------------------------------------------------------------------------

# Loaders whose result is a model. kind -> properties in KINDS.
LOADERS = {
    "torch.jit.load": "torchscript",
    "torch.load": "pickled",
    "torch.hub.load": "hub",
    "torch.export.load": "exported_program",
    "torch._export.aot_load": "aot",
    "torch._inductor.aoti_load_package": "aot",
    "torch._inductor.aot_load": "aot",
    "torch.package.PackageImporter": None,
    "bentoml.pytorch.load_model": "pickled",
    "bentoml.torchscript.load_model": "torchscript",
    "bentoml.transformers.load_model": "hf_any",
    "bentoml.diffusers.load_model": "pipeline",
    "timm.create_model": "library_module",
    "torchvision.models.get_model": "library_module",
    "transformers.pipeline": "pipeline",
    "transformers.pipelines.pipeline": "pipeline",
    "optimum.pipelines.pipeline": "pipeline",
    "ultralytics.YOLO": "guaranteed",
    "ultralytics.RTDETR": "guaranteed",
    "sentence_transformers.SentenceTransformer": "guaranteed",
    "sentence_transformers.CrossEncoder": "guaranteed",
    "InstructorEmbedding.INSTRUCTOR": "guaranteed",
}

# torch.hub repositories whose entry points return a model that runs in eval mode under
# inference mode (ultralytics' AutoShape wrapper).
GUARANTEED_HUB_REPOS = ("ultralytics/yolov5", "ultralytics/yolov3", "ultralytics/yolov8")

# Calls that return their first argument wrapped or converted: the result is the same model for
# eval() and autograd purposes. Value: True when the wrapper implies eval() (freeze requires it).
WRAPPERS = {
    "torch.compile": False,
    "torch.jit.script": False,
    "torch.jit.trace": False,
    "torch.jit.freeze": True,
    "torch.jit.optimize_for_inference": True,
    "torch.nn.DataParallel": False,
    "torch.nn.parallel.DataParallel": False,
    "torch.nn.parallel.DistributedDataParallel": False,
    "torch.ao.quantization.quantize_dynamic": False,
    "torch.quantization.quantize_dynamic": False,
    "torch.ao.quantization.prepare": False,
    "torch.ao.quantization.convert": False,
    "torch.quantization.prepare": False,
    "torch.quantization.convert": False,
    "intel_extension_for_pytorch.optimize": False,
    "intel_extension_for_pytorch.llm.optimize": False,
    "intel_extension_for_pytorch.quantization.prepare": False,
    "intel_extension_for_pytorch.quantization.convert": False,
    "optimum.bettertransformer.BetterTransformer.transform": False,
    "habana_frameworks.torch.hpu.wrap_in_hpu_graph": False,
    "accelerate.dispatch_model": False,
}

# What each kind of model needs. eval: "needed" (the scan requires eval()), "guaranteed" (the API
# returns it in eval mode), "na" (the mode was fixed when it was compiled/exported).
# grad: True when a call records autograd unless a grad-free context is on the path.
KINDS = {
    "torchscript": dict(eval="needed", grad=True, label="torch.jit.load"),
    "pickled": dict(eval="needed", grad=True, label="torch.load"),
    "hub": dict(eval="needed", grad=True, label="torch.hub.load", unsure=True),
    "exported_program": dict(eval="na", grad=True, label="torch.export.load"),
    "aot": dict(eval="na", grad=False, label="AOTInductor package"),
    "neuron": dict(eval="na", grad=False, label="Neuron-compiled TorchScript"),
    "library_module": dict(eval="needed", grad=True, label="library nn.Module"),
    "tree_module": dict(eval="needed", grad=True, label="nn.Module"),
    "evidence_module": dict(eval="needed", grad=True, label="nn.Module"),
    "hf": dict(eval="guaranteed", grad=True, label="from_pretrained"),
    "hf_config": dict(eval="needed", grad=True, label="from_config"),
    "pipeline": dict(eval="guaranteed", grad=False, label="pipeline"),
    "guaranteed": dict(eval="guaranteed", grad=False, label="self-managed model"),
    "unknown_model": dict(eval="needed", grad=True, label="unknown loader", unsure=True),
}

# transformers-style classes whose from_pretrained() returns something that is not a model.
NOT_MODEL_PRETRAINED = re.compile(
    r"(Tokenizer|Processor|FeatureExtractor|ImageProcessor|Config|Scheduler|GenerationConfig)"
    r"(Fast)?$"
)
PIPELINE_CLASS = re.compile(r"Pipeline")  # DiffusionPipeline, AutoPipelineForText2Image, ...
NON_TORCH_PRETRAINED_ROOTS = ("optimum.onnxruntime", "optimum.intel.openvino", "ctranslate2")
# Packages whose from_pretrained() returns a PyTorch model in eval mode (transformers' convention).
HF_ROOTS = {
    "transformers",
    "diffusers",
    "peft",
    "optimum",
    "sentence_transformers",
    "timm",
    "open_clip",
    "accelerate",
    "bentoml",
}
# Loaders that return whatever was saved (a model, a tokenizer, a processor): the binding's name
# decides.
NOT_MODEL_NAME = re.compile(
    r"tokeni[sz]er|processor|extractor|vocab|config|scheduler", re.IGNORECASE
)

# torch.nn classes: (mode-sensitive, has parameters). Classes not listed are assumed sensitive.
NN_CLASSES = {}
for _name in (
    "Linear Bilinear LazyLinear Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d "
    "ConvTranspose3d LazyConv1d LazyConv2d LazyConv3d Embedding EmbeddingBag LayerNorm "
    "GroupNorm LocalResponseNorm RMSNorm PReLU"
).split():
    NN_CLASSES[_name] = (False, True)
for _name in (
    "ReLU ReLU6 GELU SiLU Mish ELU SELU CELU LeakyReLU Sigmoid Tanh Hardtanh Hardswish "
    "Hardsigmoid Softplus Softsign Softmax Softmax2d LogSoftmax Softmin Threshold GLU "
    "LogSigmoid Tanhshrink Softshrink Hardshrink Identity Flatten Unflatten MaxPool1d "
    "MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d "
    "AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d LPPool1d "
    "LPPool2d Upsample UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle "
    "PixelUnshuffle ChannelShuffle ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d "
    "ConstantPad2d ConstantPad3d ReflectionPad1d ReflectionPad2d ReflectionPad3d "
    "ReplicationPad1d ReplicationPad2d ReplicationPad3d CircularPad1d CircularPad2d "
    "CircularPad3d CosineSimilarity PairwiseDistance Fold Unfold ModuleList ModuleDict "
    "Sequential ParameterList ParameterDict"
).split():
    NN_CLASSES[_name] = (False, False)
# Layers whose dropout argument decides (default 0): RNN, LSTM, GRU, MultiheadAttention.
NN_DROPOUT_ARG = {"RNN": 0.0, "LSTM": 0.0, "GRU": 0.0, "MultiheadAttention": 0.0}
SENSITIVE_FUNCTIONS = {
    "torch.nn.functional.dropout",
    "torch.nn.functional.dropout1d",
    "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d",
    "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout",
    "torch.nn.functional.batch_norm",
    "torch.nn.utils.spectral_norm",
    "torch.nn.utils.parametrizations.spectral_norm",
    "torch.dropout",
    "torch.nn.functional.rrelu",
}

# Methods that return the model itself (for eval()/autograd purposes).
IDENTITY_METHODS = {
    "to",
    "cuda",
    "cpu",
    "half",
    "float",
    "double",
    "bfloat16",
    "eval",
    "train",
    "requires_grad_",
    "share_memory",
    "to_empty",
    "xpu",
    "mps",
    "type",
}
# Methods through which a model is run. Plain calls and forward() run any model; the others only
# models whose kind is known (an nn.Module subclass of the tree, a loaded or library model).
RUN_METHODS_ANY = {"forward"}
RUN_METHODS_KNOWN = {"infer", "inference", "predict", "sample", "generate"}
GRAD_FREE_METHODS_HF = {"generate"}  # transformers' GenerationMixin.generate is @torch.no_grad()

REDUCED_DTYPES = {
    "torch.float16",
    "torch.half",
    "torch.bfloat16",
    "torch.float8_e4m3fn",
    "torch.float8_e5m2",
}
REDUCED_DTYPE_STRINGS = {"float16", "fp16", "half", "bfloat16", "bf16"}
AUTOCAST = {
    "torch.autocast",
    "torch.cuda.amp.autocast",
    "torch.cpu.amp.autocast",
    "torch.amp.autocast",
    "torch.xpu.amp.autocast",
}
GRAD_FREE_CONTEXTS = {
    "torch.no_grad",
    "torch.inference_mode",
    "torch.autograd.no_grad",
    "torch.autograd.grad_mode.no_grad",
    "torch.autograd.grad_mode.inference_mode",
}
SET_GRAD_ENABLED = {
    "torch.set_grad_enabled",
    "torch.autograd.set_grad_enabled",
    "torch.autograd.grad_mode.set_grad_enabled",
}

ENV_SETTINGS = {
    "NVIDIA_TF32_OVERRIDE": "serving.tf32",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "serving.tf32",
    "CUBLAS_WORKSPACE_CONFIG": "serving.determinism",
}
ATTRIBUTE_SETTINGS = {
    "torch.backends.cuda.matmul.allow_tf32": ("serving.tf32", "TF32 for matmuls"),
    "torch.backends.cudnn.allow_tf32": ("serving.tf32", "TF32 for cuDNN convolutions"),
    "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction": (
        "serving.precision",
        "reduced-precision reductions in float16 matmuls",
    ),
    "torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction": (
        "serving.precision",
        "reduced-precision reductions in bfloat16 matmuls",
    ),
    "torch.backends.cudnn.benchmark": (
        "serving.determinism",
        "cuDNN benchmark mode (kernels chosen " "by timing: outputs can vary run to run)",
    ),
    "torch.backends.cudnn.deterministic": ("serving.determinism", "cuDNN deterministic mode"),
}
CALL_SETTINGS = {
    "torch.set_float32_matmul_precision": (
        "serving.tf32",
        "float32 matmul precision ('high' and " "'medium' allow TF32/bfloat16 passes)",
    ),
    "torch.use_deterministic_algorithms": ("serving.determinism", "deterministic-algorithms mode"),
    "torch.set_flush_denormal": (
        "serving.determinism",
        "denormal flushing (values below ~1e-38 " "become 0)",
    ),
    "torch.set_default_dtype": ("serving.precision", "the default float dtype"),
}

# Framework methods called by the serving framework itself (entry points): their callers in the
# tree never make them grad-free.
ENTRY_METHODS = {
    "handle",
    "initialize",
    "preprocess",
    "inference",
    "postprocess",
    "predict",
    "load",
    "explain",
    "execute",
    "finalize",
    "__call__",
    "predict_stream",
    "forward",
    "__init__",
    "describe_handle",
    "explain_handle",
    "unload",
    "setup",
}

# Serving frameworks' bases that are not in the scanned tree, and what they guarantee. The
# behaviour of TorchServe's BaseHandler is given as Python (parsed like any other file); the
# others guarantee nothing about eval() or autograd (their methods are entry points).
TORCHSERVE_STUB = """
import torch
class BaseHandler:
    def initialize(self, context):
        if model_file:
            self.model = self._load_pickled_model(model_dir, model_file, model_pt_path)
            self.model.to(self.device)
            self.model.eval()
        elif model_pt_path.endswith(".pt"):
            self.model = self._load_torchscript_model(model_pt_path)
            self.model.eval()
    def _load_torchscript_model(self, model_pt_path):
        return torch.jit.load(model_pt_path, map_location=self.device)
    def _load_pickled_model(self, model_dir, model_file, model_pt_path):
        model = model_class()
        model.load_state_dict(torch.load(model_pt_path))
        return model
    def preprocess(self, data):
        return torch.as_tensor(data, device=self.device)
    def inference(self, data, *args, **kwargs):
        with torch.inference_mode():
            results = self.model(data, *args, **kwargs)
        return results
    def postprocess(self, data):
        return data.tolist()
    def handle(self, data, context):
        return self.postprocess(self.inference(self.preprocess(data)))
class VisionHandler(BaseHandler):
    pass
class ImageClassifier(VisionHandler):
    pass
class ImageSegmenter(VisionHandler):
    pass
class ObjectDetector(VisionHandler):
    pass
class TextHandler(BaseHandler):
    pass
class TextClassifier(TextHandler):
    pass
class DALIHandler(BaseHandler):
    pass
class DALIImageClassifier(DALIHandler):
    pass
class BaseDeepSpeedHandler(BaseHandler):
    def initialize(self, ctx):
        pass
class BasePippyHandler(BaseHandler):
    def initialize(self, ctx):
        pass
"""
TORCHSERVE_MODULES = {
    "ts.torch_handler.base_handler": "BaseHandler",
    "ts.torch_handler.vision_handler": "VisionHandler",
    "ts.torch_handler.image_classifier": "ImageClassifier",
    "ts.torch_handler.image_segmenter": "ImageSegmenter",
    "ts.torch_handler.object_detector": "ObjectDetector",
    "ts.torch_handler.text_handler": "TextHandler",
    "ts.torch_handler.text_classifier": "TextClassifier",
    "ts.torch_handler.dali_handler": "DALIHandler",
    "ts.torch_handler.dali_image_classifier": "DALIImageClassifier",
    "ts.torch_handler.distributed.base_deepspeed_handler": "BaseDeepSpeedHandler",
    "ts.torch_handler.distributed.base_pippy_handler": "BasePippyHandler",
}
STUB_PATH = "<TorchServe BaseHandler (built in)>"
STUB_MODULE = "__replay_stub__.ts_torch_handler"

# Names that say "model" (the last word of the name): only for objects from unknown loaders, and
# then only as "unsure".
MODEL_NAME = re.compile(
    r"(^|_)(model|encoder|decoder|classifier|detector|backbone|generator|"
    r"segmenter|unet|vae)$|net$",
    re.IGNORECASE,
)
SKIPPED_DIRS = {"site-packages", "dist-packages", "venv", "__pycache__", "node_modules"}
TEST_DIRS = {"test", "tests", "unit_tests", "testing"}


def _is_test_path(rel):
    parts = rel.split("/")
    name = parts[-1]
    if name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py"):
        return True
    return any(p in TEST_DIRS for p in parts[:-1])


# ----------------------------------------------------------------------------------------------
# Phase 1: one file -> summary (plain tuples, lists and dicts, so it can cross processes).
# Expressions are reduced to tuples: ("n", name) | ("a", value, attr) | ("c", func, [args],
# {kw: value}, line) | ("k", constant) | ("if", a, b) | ("s", value) | ("?",).
# Binding targets: ("self", attr) | ("local", function_qualname, name) | ("global", name).
# Statement paths: tuple of (block id, index) from the function body down to the statement.
# ----------------------------------------------------------------------------------------------


def expr_ir(node, depth=0):
    if depth > 12:
        return ("?",)
    if isinstance(node, ast.Name):
        return ("n", node.id)
    if isinstance(node, ast.Attribute):
        return ("a", expr_ir(node.value, depth + 1), node.attr)
    if isinstance(node, ast.Call):
        args = [expr_ir(a, depth + 1) for a in node.args[:2] if not isinstance(a, ast.Starred)]
        kws = {}
        for kw in node.keywords:
            if kw.arg == "dropout":
                kws[kw.arg] = expr_ir(kw.value, depth + 1)
        return ("c", expr_ir(node.func, depth + 1), args, kws, node.lineno)
    if isinstance(node, ast.Constant):
        value = node.value
        return ("k", value if isinstance(value, (str, int, float, bool)) or value is None else None)
    if isinstance(node, ast.IfExp):
        return ("if", expr_ir(node.body, depth + 1), expr_ir(node.orelse, depth + 1))
    if isinstance(node, ast.Subscript):
        return ("s", expr_ir(node.value, depth + 1))
    if isinstance(node, ast.Await):
        return expr_ir(node.value, depth + 1)
    if isinstance(node, ast.BoolOp):
        return ("if", expr_ir(node.values[0], depth + 1), expr_ir(node.values[-1], depth + 1))
    return ("?",)


def dotted(ir):
    """'a.b.c' for a Name/Attribute chain, else None."""
    parts = []
    while ir[0] == "a":
        parts.append(ir[2])
        ir = ir[1]
    if ir[0] != "n":
        return None
    parts.append(ir[1])
    return ".".join(reversed(parts))


def strip_identity(ir):
    """The receiver under a chain of identity methods: x.to(d).eval() -> x."""
    while ir[0] == "c" and ir[1][0] == "a" and ir[1][2] in IDENTITY_METHODS:
        ir = ir[1][1]
    return ir


class Imports(object):
    """Local name -> qualified name, for one scope (a module or a function)."""

    def __init__(self, package):
        self.package = package  # dotted package of the file, for relative imports
        self.names = {}

    def add(self, node):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.names[top] = top
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = self.package.split(".") if self.package else []
                if node.level > 1:
                    base = (
                        base[: len(base) - (node.level - 1)] if node.level - 1 <= len(base) else []
                    )
                module = ".".join([p for p in base + ([module] if module else []) if p])
                module = "." + module  # marks a resolved relative import: path from the scan root
            for alias in node.names:
                if alias.name == "*":
                    continue
                self.names[alias.asname or alias.name] = (
                    (module + "." + alias.name) if module else alias.name
                )


class FunctionSummary(object):
    __slots__ = (
        "qualname",
        "name",
        "line",
        "cls",
        "parent",
        "decorators",
        "grad_free_decorator",
        "autocast_decorator",
        "needs_grad",
        "locals",
        "imports",
        "assigns",
        "evals",
        "trains",
        "runs",
        "calls",
        "returns",
        "precision",
        "evidence",
        "self_name",
        "grad_off",
        "is_method",
        "return_annotation",
        "params",
        "static",
    )

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


_SCALAR_FIELDS = {
    "ctx",
    "id",
    "attr",
    "name",
    "n",
    "s",
    "kind",
    "type_comment",
    "level",
    "module",
    "arg",
    "asname",
    "conversion",
    "is_async",
    "simple",
    "names",
    "type_ignores",
}
_CHILD_FIELDS = {}


def push_children(node, stack):
    """Appends node's child nodes (and lists of them) to stack; None entries are left for the
    consumer to skip."""
    cls = node.__class__
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = _CHILD_FIELDS[cls] = tuple(f for f in cls._fields if f not in _SCALAR_FIELDS)
    for name in fields:
        value = getattr(node, name, None)
        if value is None:
            continue
        if value.__class__ is list:
            stack.extend(value)
        elif isinstance(value, ast.AST):
            stack.append(value)


def _target_names(node, bound):
    kind = type(node)
    if kind is ast.Name:
        bound.add(node.id)
    elif kind is ast.Tuple or kind is ast.List:
        for elt in node.elts:
            _target_names(elt, bound)
    elif kind is ast.Starred:
        _target_names(node.value, bound)


def _scope_names(body, params, package=None):
    """Names bound in a function body (not in nested scopes), minus those declared global or
    nonlocal; and the imports made in it (local name -> qualified name). Statements only: names
    bound inside expressions (`:=`) are not seen, and are then taken for globals."""
    bound, declared = set(params), set()
    imports = Imports(package or "")
    stack = list(body)
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        kind = type(node)
        if kind is ast.Assign:
            for target in node.targets:
                _target_names(target, bound)
        elif kind is ast.AnnAssign or kind is ast.AugAssign:
            _target_names(node.target, bound)
        elif kind is ast.Expr or kind is ast.Return or kind is ast.Pass:
            continue
        elif kind in _SCOPE_DEFS:
            bound.add(node.name)
        elif kind is ast.If or kind is ast.While:
            extend(node.body)
            extend(node.orelse)
        elif kind is ast.For or kind is ast.AsyncFor:
            _target_names(node.target, bound)
            extend(node.body)
            extend(node.orelse)
        elif kind is ast.With or kind is ast.AsyncWith:
            for item in node.items:
                if item.optional_vars is not None:
                    _target_names(item.optional_vars, bound)
            extend(node.body)
        elif kind is ast.Import or kind is ast.ImportFrom:
            imports.add(node)
            for alias in node.names:
                if alias.name != "*":
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif kind is ast.Global or kind is ast.Nonlocal:
            declared.update(node.names)
        elif kind is ast.Delete:
            for target in node.targets:
                _target_names(target, bound)
        elif hasattr(node, "handlers"):  # try, and try/except* (3.11)
            extend(node.body)
            extend(node.orelse)
            extend(node.finalbody)
            for handler in node.handlers:
                if handler.name:
                    bound.add(handler.name)
                extend(handler.body)
        elif hasattr(node, "cases"):  # match (3.10)
            for case in node.cases:
                for sub in ast.walk(case.pattern):
                    name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                    if isinstance(name, str):
                        bound.add(name)
                extend(case.body)
    return bound - declared, imports.names


_SCOPE_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_LEAVES = (ast.Constant, ast.Pass, ast.Break, ast.Continue, ast.JoinedStr)


class FileScanner(object):
    """Phase 1 for one file."""

    def __init__(self, rel, source, lines=None):
        self.rel = rel
        self.source = source
        self.lines = lines
        module_path = rel[:-3] if rel.endswith(".py") else rel
        parts = module_path.split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
            self.package = ".".join(parts)
        else:
            self.package = ".".join(parts[:-1])
        self.module = ".".join(parts)
        self.functions = {}
        self.classes = {}
        self.settings = []
        self.block_counter = 0
        self.imports = Imports(self.package)
        self.uses_captum = False
        self.training_markers = []
        self.module_locals = set()
        self.module_globals_declared = set()
        self.grad_off = False

    # --- helpers -------------------------------------------------------------------------------
    def code(self, line):
        if self.lines is None:
            self.lines = self.source.split("\n")
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].strip()
        return ""

    def segment(self, node):
        """The source text of a node, on one line (columns are UTF-8 byte offsets)."""
        if self.lines is None:
            self.lines = self.source.split("\n")
        first, last = node.lineno, getattr(node, "end_lineno", None) or node.lineno
        start, end = node.col_offset, getattr(node, "end_col_offset", None)
        if not (1 <= first <= last <= len(self.lines)):
            return self.code(node.lineno)
        pieces = []
        for number in range(first, last + 1):
            raw = self.lines[number - 1].encode("utf-8")
            lo = start if number == first else 0
            hi = end if number == last and end is not None else len(raw)
            pieces.append(raw[lo:hi].decode("utf-8", "replace"))
        return " ".join(" ".join(pieces).split())

    def new_block(self):
        self.block_counter += 1
        return self.block_counter

    def qualify(self, ir, func):
        """Qualified name of a Name/Attribute chain through the imports in scope, else None."""
        name = dotted(ir)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        target = None
        scope = func
        while scope is not None:
            if head in scope.imports:
                target = scope.imports[head]
                break
            if head in scope.locals:
                return None
            scope = self.functions.get(scope.parent) if scope.parent else None
        if target is None:
            if head in self.imports.names:
                target = self.imports.names[head]
            else:
                return None
        return target + ("." + rest if rest else "")

    # --- driver --------------------------------------------------------------------------------
    def scan(self):
        tree = ast.parse(self.source, filename=self.rel)
        # Module-level imports anywhere outside functions and classes (if/try blocks included).
        stack = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imports.add(node)
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.While)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    stack.extend(getattr(node, field, []) or [])
            elif isinstance(node, ast.ExceptHandler):
                stack.extend(node.body)
        if any(q.startswith("captum") for q in self.imports.names.values()):
            self.uses_captum = True
        bound, imports = _scope_names(tree.body, [], self.package)
        self.module_variables = bound - set(imports)
        module = self.new_function(
            "<module>", tree.body, [], cls=None, parent=None, line=1, decorators=[], is_method=False
        )
        module.locals = bound
        module.imports = imports
        self.visit_body(module, tree.body, (), guard=False, cond=False)
        return self.summary()

    def new_function(
        self,
        name,
        body,
        params,
        cls,
        parent,
        line,
        decorators,
        is_method,
        self_name=None,
        returns=None,
        static=False,
    ):
        f = FunctionSummary()
        if name == "<module>":
            f.qualname = "<module>"
        elif parent not in (None, "<module>"):
            f.qualname = parent + "." + name
        elif cls is not None and is_method:
            f.qualname = cls + "." + name
        else:
            f.qualname = name
        f.name = name
        f.line = line
        f.cls = cls
        f.parent = parent
        f.decorators = decorators
        f.grad_free_decorator = False
        f.autocast_decorator = False
        f.needs_grad = None
        if name == "<module>" or name == "<classbody>":
            f.locals, f.imports = set(), {}
        else:
            f.locals, f.imports = _scope_names(body, params, self.package)
        f.assigns = []
        f.evals = []
        f.trains = []
        f.runs = []
        f.calls = []
        f.returns = []
        f.precision = []
        f.evidence = []
        f.self_name = self_name
        f.grad_off = False
        f.is_method = is_method
        f.return_annotation = returns
        f.params = list(params)
        f.static = static
        while f.qualname in self.functions:
            f.qualname += "'"
        self.functions[f.qualname] = f
        return f

    def visit_def(self, func, node, cls=None):
        params = (
            [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
            if hasattr(node.args, "posonlyargs")
            else [a.arg for a in node.args.args + node.args.kwonlyargs]
        )
        if node.args.vararg:
            params.append(node.args.vararg.arg)
        if node.args.kwarg:
            params.append(node.args.kwarg.arg)
        decorators = [expr_ir(d) for d in node.decorator_list]
        decorator_names = [dotted(d[1] if d[0] == "c" else d) or "" for d in decorators]
        static = any(n in ("staticmethod", "classmethod") for n in decorator_names)
        is_method = cls is not None
        self_name = None
        if is_method and not static and params:
            self_name = params[0]
        elif func is not None and func.self_name and func.self_name not in params:
            self_name = func.self_name  # nested function: the enclosing method's self
        returns = expr_ir(node.returns) if node.returns is not None else None
        parent = func.qualname if func is not None else None
        f = self.new_function(
            node.name,
            node.body,
            params,
            cls=cls if is_method else (func.cls if func is not None else None),
            parent=parent if not is_method else parent,
            line=node.lineno,
            decorators=decorators,
            is_method=is_method,
            self_name=self_name,
            returns=returns,
            static=static,
        )
        for d, d_ir in zip(node.decorator_list, decorators):
            q = self.qualify(d_ir[1] if d_ir[0] == "c" else d_ir, func)
            if q in GRAD_FREE_CONTEXTS:
                f.grad_free_decorator = True
            elif q in AUTOCAST:
                f.autocast_decorator = True
                self.add_setting(
                    "serving.precision",
                    d,
                    "autocast region (decorator of %s)" % node.name,
                    self.segment(d),
                    cond=False,
                    func=f,
                )
            elif (
                q in SET_GRAD_ENABLED and d_ir[0] == "c" and d_ir[2] and d_ir[2][0] == ("k", False)
            ):
                f.grad_free_decorator = True
        self.visit_body(f, node.body, (), guard=False, cond=False)
        return f

    def visit_class(self, func, node):
        qual = (
            node.name
            if func is None or func.qualname == "<module>"
            else func.qualname + "." + node.name
        )
        bases = [expr_ir(b) for b in node.bases]
        keywords = {kw.arg: expr_ir(kw.value) for kw in node.keywords if kw.arg}
        decorators = [expr_ir(d) for d in node.decorator_list]
        cls = {
            "name": node.name,
            "qualname": qual,
            "line": node.lineno,
            "bases": bases,
            "decorators": decorators,
            "methods": {},
            "keywords": keywords,
            "body_calls": {},
            "uses_training_flag": False,
            "scope": func.qualname if func else None,
        }
        self.classes[qual] = cls
        # Class body statements (attributes) form a pseudo-method.
        body_fn = self.new_function(
            "<classbody>",
            [],
            [],
            cls=qual,
            parent=None,
            line=node.lineno,
            decorators=[],
            is_method=True,
            self_name=None,
        )
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                f = self.visit_def(None, stmt, cls=qual)
                cls["methods"][stmt.name] = f.qualname
            elif isinstance(stmt, ast.ClassDef):
                self.visit_class(None, stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = stmt.value
                for t in targets:
                    if isinstance(t, ast.Name) and value is not None:
                        body_fn.assigns.append((("self", t.id), expr_ir(value), (), stmt.lineno))
                if value is not None:
                    self.visit_expr(body_fn, value, (), False, False)
        cls["methods"]["<classbody>"] = body_fn.qualname

    # --- statements ----------------------------------------------------------------------------
    def visit_body(self, func, body, path, guard, cond):
        block = self.new_block()
        for index, stmt in enumerate(body):
            self.visit_stmt(func, stmt, path + ((block, index),), guard, cond)

    def visit_stmt(self, func, stmt, path, guard, cond):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.visit_def(func, stmt)
            for d in stmt.decorator_list:
                self.visit_expr(func, d, path, guard, cond)
            return
        if isinstance(stmt, ast.ClassDef):
            self.visit_class(func if func.qualname != "<module>" else None, stmt)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            grad_free = False
            for item in stmt.items:
                ir = expr_ir(item.context_expr)
                if ir[0] == "c":
                    q = self.qualify(ir[1], func)
                    if q in GRAD_FREE_CONTEXTS:
                        grad_free = True
                    elif q in SET_GRAD_ENABLED and ir[2] and ir[2][0] == ("k", False):
                        grad_free = True
                    elif q in AUTOCAST:
                        self.autocast_setting(func, item.context_expr, cond)
                self.visit_expr(func, item.context_expr, path, guard, cond)
                if item.optional_vars is not None:
                    self.record_targets(func, [item.optional_vars], ("?",), path, stmt.lineno)
            self.visit_body(func, stmt.body, path, guard or grad_free, cond)
            return
        if isinstance(stmt, ast.If):
            self.visit_expr(func, stmt.test, path, guard, cond)
            self.visit_body(func, stmt.body, path, guard, True)
            self.visit_body(func, stmt.orelse, path, guard, True)
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            if isinstance(stmt, ast.For):
                self.frozen_parameters(func, stmt)
            if isinstance(stmt, ast.While):
                self.visit_expr(func, stmt.test, path, guard, cond)
            else:
                self.visit_expr(func, stmt.iter, path, guard, cond)
                self.record_targets(func, [stmt.target], ("?",), path, stmt.lineno)
            self.visit_body(func, stmt.body, path, guard, True)
            self.visit_body(func, stmt.orelse, path, guard, True)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self.visit_body(func, stmt.body, path, guard, cond)
            for handler in stmt.handlers:
                self.visit_body(func, handler.body, path, guard, True)
            self.visit_body(func, stmt.orelse, path, guard, cond)
            # finally: marked so that a statement there counts as after the try body.
            block = self.new_block()
            for index, sub in enumerate(stmt.finalbody):
                self.visit_stmt(func, sub, path + ((-block, index),), guard, cond)
            return
        if type(stmt).__name__ == "Match":
            self.visit_expr(func, stmt.subject, path, guard, cond)
            for case in stmt.cases:
                self.visit_body(func, case.body, path, guard, True)
            return
        if isinstance(stmt, ast.Assign):
            self.visit_expr(func, stmt.value, path, guard, cond)
            value = expr_ir(stmt.value)
            self.record_targets(func, stmt.targets, value, path, stmt.lineno)
            for t in stmt.targets:
                self.setting_assignment(func, t, stmt.value, stmt, cond)
            return
        if isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.visit_expr(func, stmt.value, path, guard, cond)
                self.record_targets(func, [stmt.target], expr_ir(stmt.value), path, stmt.lineno)
                self.setting_assignment(func, stmt.target, stmt.value, stmt, cond)
            return
        if isinstance(stmt, ast.AugAssign):
            self.visit_expr(func, stmt.value, path, guard, cond)
            return
        if isinstance(stmt, ast.Return):
            if stmt.value is not None:
                self.visit_expr(func, stmt.value, path, guard, cond)
                func.returns.append((expr_ir(stmt.value), path))
            return
        if isinstance(stmt, ast.Expr):
            self.visit_expr(func, stmt.value, path, guard, cond)
            return
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr):
                self.visit_expr(func, child, path, guard, cond)

    def frozen_parameters(self, func, loop):
        """`for p in model.parameters(): p.requires_grad = False`: autograd records nothing."""
        it = loop.iter
        if not (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Attribute)
            and it.func.attr == "parameters"
            and isinstance(loop.target, ast.Name)
        ):
            return
        target = self.target_of(func, it.func.value)
        if target is None:
            return
        for stmt in loop.body:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Constant)
                and stmt.value.value is False
            ):
                for t in stmt.targets:
                    if (
                        isinstance(t, ast.Attribute)
                        and t.attr == "requires_grad"
                        and isinstance(t.value, ast.Name)
                        and t.value.id == loop.target.id
                    ):
                        func.evidence.append((target, "frozen"))

    def target_of(self, func, node):
        """Binding target of an expression (a Name or self.attr), else None."""
        if isinstance(node, ast.Name):
            return self.name_target(func, node.id)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and func.self_name
            and node.value.id == func.self_name
        ):
            return ("self", node.attr)
        return None

    def name_target(self, func, name):
        if func.qualname == "<module>":
            return ("global", name)
        scope = func
        while scope is not None and scope.qualname != "<module>":
            if name in scope.locals:
                return ("local", scope.qualname, name)
            scope = self.functions.get(scope.parent) if scope.parent else None
        return ("global", name)

    def record_targets(self, func, targets, value, path, line):
        for t in targets:
            if isinstance(t, (ast.Tuple, ast.List)):
                self.record_targets(func, t.elts, ("?",), path, line)
                continue
            if isinstance(t, ast.Starred):
                self.record_targets(func, [t.value], ("?",), path, line)
                continue
            target = self.target_of(func, t)
            if target is not None:
                func.assigns.append((target, value, path, line))

    # --- expressions ---------------------------------------------------------------------------
    def visit_expr(self, func, node, path, guard, cond):
        stack = [node]
        pop = stack.pop
        while stack:
            sub = pop()
            kind = type(sub)
            if kind is ast.Name or kind is ast.Constant or sub is None or kind is str:
                continue
            if kind is ast.Call:
                self.visit_call(func, sub, path, guard, cond)
            elif kind is ast.Attribute:
                if (
                    sub.attr == "training"
                    and func.cls is not None
                    and type(sub.value) is ast.Name
                    and sub.value.id == func.self_name
                ):
                    cls = self.classes.get(func.cls)
                    if cls is not None:
                        cls["uses_training_flag"] = True
                stack.append(sub.value)
                continue
            elif kind is ast.IfExp:
                stack.append(sub.test)
                for branch in (sub.body, sub.orelse):
                    self.visit_expr(func, branch, path, guard, True)
                continue
            elif kind is ast.Lambda:
                stack.append(sub.body)
                continue
            push_children(sub, stack)

    def visit_call(self, func, call, path, guard, cond):
        f = call.func
        line = call.lineno
        f_ir = expr_ir(f)
        if func.cls is not None:
            # What an nn.Module subclass is made of: every call made in the class.
            cls = self.classes.get(func.cls)
            if cls is not None:
                name = dotted(f_ir)
                if name is not None:
                    cls["body_calls"][name] = True
                for kw in call.keywords:
                    if kw.arg == "dropout":
                        v = kw.value
                        zero = isinstance(v, ast.Constant) and v.value in (0, 0.0, None)
                        cls["body_calls"]["<dropout=0>" if zero else "<dropout>"] = True
        if isinstance(f, ast.Attribute):
            method = f.attr
            receiver = f.value
            receiver_ir = f_ir[1]
            base_ir = strip_identity(receiver_ir)
            target = None
            if base_ir[0] == "n":
                target = self.name_target(func, base_ir[1])
            elif (
                base_ir[0] == "a"
                and base_ir[1][0] == "n"
                and func.self_name
                and base_ir[1][1] == func.self_name
            ):
                target = ("self", base_ir[2])
            if method == "eval" and not call.args and not call.keywords:
                if target is not None:
                    func.evals.append((target, path, line))
            elif method == "train":
                mode = (
                    call.args[0]
                    if call.args
                    else (call.keywords[0].value if call.keywords else None)
                )
                if isinstance(mode, ast.Constant) and mode.value is False:
                    if target is not None:
                        func.evals.append((target, path, line))
                elif mode is None or (isinstance(mode, ast.Constant) and mode.value is True):
                    if target is not None:
                        func.trains.append((target, line, None))
            elif method == "load_state_dict":
                if target is not None:
                    func.evidence.append((target, "load_state_dict"))
            elif method == "requires_grad_":
                mode = call.args[0] if call.args else None
                if target is not None and isinstance(mode, ast.Constant) and mode.value is False:
                    func.evidence.append((target, "frozen"))
            elif method in ("backward",):
                func.needs_grad = "calls .backward() at line %d" % line
            elif method == "attribute" and self.uses_captum:
                func.needs_grad = "Captum attribution at line %d" % line
            elif method in ("half", "bfloat16") and not call.args:
                func.precision.append(
                    (
                        target,
                        receiver_ir,
                        line,
                        "torch." + ("float16" if method == "half" else "bfloat16"),
                        cond,
                        None,
                    )
                )
            elif method == "to":
                dtype = self.reduced_dtype(func, call)
                if dtype:
                    func.precision.append((target, receiver_ir, line, dtype, cond, None))
            if (
                method in ("step", "zero_grad")
                and isinstance(receiver, ast.Name)
                and "optim" in receiver.id.lower()
            ):
                self.training_markers.append("%s.%s() at line %d" % (receiver.id, method, line))
            # A call that may run a model: x(...) handled below; x.forward(...), x.infer(...).
            if target is not None and (method in RUN_METHODS_ANY or method in RUN_METHODS_KNOWN):
                func.runs.append((target, line, method, guard, None))
            # self.x(...) where x may be an attribute holding a model, or a method.
            if isinstance(receiver, ast.Name) and func.self_name and receiver.id == func.self_name:
                func.runs.append((("self", method), line, None, guard, None))
                func.calls.append((("self", method), line, guard))
            elif (
                isinstance(receiver, ast.Call)
                and isinstance(receiver.func, ast.Name)
                and receiver.func.id == "super"
            ):
                func.calls.append((("super", method), line, guard))
            elif (
                isinstance(receiver, (ast.Name, ast.Attribute))
                and call.args
                and isinstance(call.args[0], ast.Name)
                and func.self_name
                and call.args[0].id == func.self_name
            ):
                func.calls.append((("explicit", receiver_ir, method), line, guard))
            q = self.qualify(f_ir, func)
            if q:
                self.call_setting(func, q, call, cond)
                if q.startswith("torch.optim.") or q in (
                    "torch.autograd.grad",
                    "torch.autograd.backward",
                ):
                    if q.startswith("torch.optim."):
                        self.training_markers.append("%s at line %d" % (q, line))
                    else:
                        func.needs_grad = "%s at line %d" % (q, line)
                self.dtype_keyword_setting(func, q, call, cond)
            elif method in ("from_pretrained", "from_config", "from_single_file"):
                self.dtype_keyword_setting(func, "." + method, call, cond)
        elif isinstance(f, ast.Name):
            target = self.name_target(func, f.id)
            if target[0] == "local" or f.id in self.module_variables:
                func.runs.append((target, line, None, guard, None))
            func.calls.append((("name", f.id, target), line, guard))
            q = self.qualify(("n", f.id), func)
            if q:
                self.call_setting(func, q, call, cond)
                self.dtype_keyword_setting(func, q, call, cond)

    def reduced_dtype(self, func, call):
        candidates = list(call.args[:2]) + [kw.value for kw in call.keywords if kw.arg == "dtype"]
        for c in candidates:
            q = self.qualify(expr_ir(c), func)
            if q in REDUCED_DTYPES:
                return q
        return None

    def dtype_keyword_setting(self, func, q, call, cond):
        last = q.rsplit(".", 1)[-1]
        if last not in ("from_pretrained", "from_config", "from_single_file", "pipeline"):
            return
        for kw in call.keywords:
            if kw.arg not in ("torch_dtype", "dtype"):
                continue
            found = None
            conditional = cond
            for sub in ast.walk(kw.value):
                if isinstance(sub, ast.IfExp):
                    conditional = True
                if isinstance(sub, (ast.Attribute, ast.Name)):
                    qq = self.qualify(expr_ir(sub), func)
                    if qq in REDUCED_DTYPES:
                        found = qq
                elif (
                    isinstance(sub, ast.Constant)
                    and isinstance(sub.value, str)
                    and sub.value.lower() in REDUCED_DTYPE_STRINGS
                ):
                    found = sub.value
            if found:
                self.add_setting(
                    "serving.precision",
                    kw.value,
                    "loads the model in %s (%s=%s)" % (found, kw.arg, self.segment(kw.value)),
                    self.segment(kw.value),
                    conditional,
                    func,
                )

    def autocast_setting(self, func, node, cond):
        enabled = None
        dtype = None
        for kw in node.keywords:
            if kw.arg == "enabled":
                enabled = kw.value
            elif kw.arg == "dtype":
                dtype = kw.value
        if isinstance(enabled, ast.Constant) and enabled.value is False:
            return
        conditional = cond or (enabled is not None and not isinstance(enabled, ast.Constant))
        what = "autocast region"
        if dtype is not None:
            what += " (dtype %s)" % self.segment(dtype)
        self.add_setting("serving.precision", node, what, self.segment(node), conditional, func)

    def call_setting(self, func, q, call, cond):
        if q in CALL_SETTINGS:
            fid, what = CALL_SETTINGS[q]
            value = (
                self.segment(call.args[0])
                if call.args
                else (self.segment(call.keywords[0].value) if call.keywords else "")
            )
            if q == "torch.set_default_dtype" and not any(
                self.qualify(expr_ir(a), func) in REDUCED_DTYPES for a in call.args
            ):
                return
            self.add_setting(fid, call, "calls %s(%s): %s" % (q, value, what), value, cond, func)
        elif (
            q in SET_GRAD_ENABLED
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and call.args[0].value is False
        ):
            func.grad_off = True
        elif (
            q in ("os.environ.setdefault", "os.putenv")
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and call.args[0].value in ENV_SETTINGS
        ):
            name = call.args[0].value
            value = self.segment(call.args[1]) if len(call.args) > 1 else ""
            self.add_setting(
                ENV_SETTINGS[name],
                call,
                "sets %s=%s in the environment" % (name, value),
                value,
                cond,
                func,
            )

    def setting_assignment(self, func, target, value, stmt, cond):
        if isinstance(target, ast.Attribute):
            q = self.qualify(expr_ir(target), func)
            if q in ATTRIBUTE_SETTINGS:
                fid, what = ATTRIBUTE_SETTINGS[q]
                text = self.segment(value)
                self.add_setting(fid, stmt, "sets %s = %s: %s" % (q, text, what), text, cond, func)
        elif isinstance(target, ast.Subscript):
            q = self.qualify(expr_ir(target.value), func)
            key = target.slice
            if isinstance(key, ast.Index):  # Python 3.8
                key = key.value
            if q == "os.environ" and isinstance(key, ast.Constant) and key.value in ENV_SETTINGS:
                text = self.segment(value)
                self.add_setting(
                    ENV_SETTINGS[key.value],
                    stmt,
                    "sets %s=%s in the environment" % (key.value, text),
                    text,
                    cond,
                    func,
                )

    def add_setting(self, fid, node, what, value, cond, func):
        where = (
            "module level"
            if func is None or func.qualname == "<module>"
            else "in %s()" % func.qualname
        )
        check = (
            "" if fid == "serving.precision" else "; check that training and evaluation do the same"
        )
        self.settings.append(
            {
                "file": self.rel,
                "line": node.lineno,
                "id": fid,
                "severity": "certain",
                "message": "%s (%s%s)%s" % (what, where, ", conditionally" if cond else "", check),
                "value": value,
                "conditional": bool(cond),
                "code": self.code(node.lineno),
            }
        )

    def summary(self):
        functions = {}
        for q, f in self.functions.items():
            d = f.to_dict()
            d["locals"] = sorted(d["locals"])
            functions[q] = d
        imports_torch = any(
            v == "torch" or v.startswith("torch.") for v in self.imports.names.values()
        ) or any(
            any(v == "torch" or v.startswith("torch.") for v in f.imports.values())
            for f in self.functions.values()
        )
        neuron = any(
            v.split(".")[0] in ("torch_neuronx", "torch_neuron")
            for f in [None] + list(self.functions.values())
            for v in (self.imports.names.values() if f is None else f.imports.values())
        )
        return {
            "path": self.rel,
            "module": self.module,
            "package": self.package,
            "imports": self.imports.names,
            "functions": functions,
            "classes": self.classes,
            "settings": self.settings,
            "imports_torch": imports_torch,
            "neuron": neuron,
            "training_markers": self.training_markers,
            "grad_off": self.functions["<module>"].grad_off,
        }


def scan_file(args):
    """Phase 1 entry point (runs in a worker process): (root, rel) -> summary or error."""
    root, rel = args
    full = os.path.join(root, rel)
    try:
        with open(full, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return {"path": rel, "error": ("read", 0, 0, str(error))}
    try:
        # UTF-8, or the file's PEP 263 coding declaration.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            import io
            import tokenize

            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            text = data.decode(encoding)
        return FileScanner(rel, text).scan()
    except SyntaxError as error:
        return {
            "path": rel,
            "error": (
                "syntax",
                error.lineno or 0,
                error.offset or 0,
                error.msg or "invalid syntax",
            ),
        }
    except (ValueError, UnicodeDecodeError, LookupError) as error:
        return {"path": rel, "error": ("syntax", 0, 0, str(error))}
    except RecursionError:
        return {"path": rel, "error": ("syntax", 0, 0, "nesting too deep for the parser")}


# ----------------------------------------------------------------------------------------------
# Phase 2: the whole tree.
# ----------------------------------------------------------------------------------------------


class Model(object):
    """What the scan knows about one model object: where it was created and what it needs."""

    __slots__ = (
        "kind",
        "label",
        "path",
        "line",
        "eval_done",
        "trained",
        "certain",
        "cls",
        "traits",
        "generic",
    )

    def __init__(self, kind, label=None, path=None, line=None, certain=True, cls=None):
        self.kind = kind
        self.label = label or KINDS[kind]["label"]
        self.path = path
        self.line = line
        self.eval_done = False
        self.trained = False
        self.certain = certain and not KINDS[kind].get("unsure", False)
        self.cls = cls
        self.traits = None  # modules: (mode-sensitive, has parameters) when known
        self.generic = False  # from a loader that returns whatever was saved (model or tokenizer)

    def copy(self):
        m = Model(self.kind, self.label, self.path, self.line, self.certain, self.cls)
        m.eval_done, m.trained = self.eval_done, self.trained
        m.traits, m.generic = self.traits, self.generic
        return m

    @property
    def needs_eval(self):
        return KINDS[self.kind]["eval"] == "needed"

    @property
    def grad(self):
        return KINDS[self.kind]["grad"]


class Ctx(object):
    """Where an expression is evaluated: a file, a function body and the class context of self."""

    __slots__ = ("path", "func", "cls")

    def __init__(self, path, func, cls):
        self.path = path
        self.func = func
        self.cls = cls


class Tree(object):
    def __init__(self, summaries):
        self.files = {}
        for s in summaries:
            self.files[s["path"]] = s
        stub = FileScanner(STUB_PATH, TORCHSERVE_STUB).scan()
        stub["module"] = STUB_MODULE
        stub["stub"] = True
        self.files[STUB_PATH] = stub
        self.by_module = {}
        for path, s in self.files.items():
            self.by_module.setdefault(s["module"], []).append(path)
        self.suffix_cache = {}
        self.mro_cache = {}
        self.module_class_cache = {}
        self.return_cache = {}
        self.context_cache = {}
        self.qualified_cache = {}
        self.name_cache = {}
        self.module_cache = {}

    # --- modules and names ---------------------------------------------------------------------
    def module_candidates(self, name):
        cached = self.suffix_cache.get(name)
        if cached is None:
            suffix = "." + name
            cached = [
                p
                for m, ps in self.by_module.items()
                if m == name or m.endswith(suffix)
                for p in ps
                if p != STUB_PATH
            ]
            self.suffix_cache[name] = cached
        return cached

    def resolve_module(self, name, from_path):
        """The file of module `name` imported from `from_path`, or None (not in the tree)."""
        key = (name, from_path)
        if key not in self.module_cache:
            self.module_cache[key] = self._resolve_module(name, from_path)
        return self.module_cache[key]

    def _resolve_module(self, name, from_path):
        if name.startswith("."):
            paths = self.by_module.get(name[1:])
            return paths[0] if paths else None
        importer = self.files.get(from_path)
        if importer is not None and importer["package"]:
            local = importer["package"] + "." + name
            if local in self.by_module:
                return self.by_module[local][0]
        if name in self.by_module and self.by_module[name][0] != STUB_PATH:
            return self.by_module[name][0]
        if "." not in name:
            return None  # a bare module name elsewhere in the tree is a namesake, not this import
        candidates = self.module_candidates(name)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        here = from_path.split("/")

        def shared(p):
            n = 0
            for a, b in zip(p.split("/"), here):
                if a != b:
                    break
                n += 1
            return n

        ranked = sorted(candidates, key=shared, reverse=True)
        if shared(ranked[0]) == shared(ranked[1]):
            return None
        return ranked[0]

    def resolve_qualified(self, q, from_path, depth=0):
        """A definition for qualified name q: ("class", path, qual) | ("func", path, qual) |
        ("var", path, name) | ("module", path) | ("ext", q)."""
        if depth == 0:
            key = (q, from_path)
            cached = self.qualified_cache.get(key, self)
            if cached is self:
                cached = self.qualified_cache[key] = self.resolve_qualified(q, from_path, 1)
            return cached
        if depth > 6:
            return ("ext", q.lstrip("."))
        relative = q.startswith(".")
        parts = q.lstrip(".").split(".")
        for i in range(len(parts), 0, -1):
            module = ("." if relative else "") + ".".join(parts[:i])
            path = self.resolve_module(module, from_path)
            if path is None:
                continue
            rest = parts[i:]
            if not rest:
                return ("module", path)
            found = self.lookup_in_module(path, rest, depth)
            if found is not None:
                return found
            break
        plain = q.lstrip(".")
        for module, cls in TORCHSERVE_MODULES.items():
            if plain == module + "." + cls or (
                relative and plain.endswith("." + module + "." + cls)
            ):
                return ("class", STUB_PATH, cls)
        if relative:
            # An in-tree relative import whose target is missing: nothing is known about it.
            return ("ext", "?" + plain)
        return ("ext", plain)

    def lookup_in_module(self, path, rest, depth):
        s = self.files[path]
        name = rest[0]
        if len(rest) == 1:
            if name in s["classes"]:
                return ("class", path, name)
            if name in s["functions"] and s["functions"][name]["cls"] is None:
                return ("func", path, name)
        if name in s["imports"]:
            target = s["imports"][name]
            return self.resolve_qualified(
                target + ("." + ".".join(rest[1:]) if rest[1:] else ""), path, depth + 1
            )
        if len(rest) == 1 and name in s["functions"]["<module>"]["locals"]:
            return ("var", path, name)
        return None

    def resolve_name(self, name, ctx):
        """What `name` means in ctx: ("binding", target) | definition (see resolve_qualified)."""
        key = (name, ctx.path, ctx.func["qualname"] if ctx.func is not None else None)
        cached = self.name_cache.get(key, self)
        if cached is self:
            cached = self.name_cache[key] = self._resolve_name(name, ctx)
        return cached

    def _resolve_name(self, name, ctx):
        s = self.files[ctx.path]
        funcs = s["functions"]
        f = ctx.func
        while f is not None and f["qualname"] != "<module>":
            if name in f["imports"]:
                return self.resolve_qualified(f["imports"][name], ctx.path)
            if name in f["locals"]:
                nested = f["qualname"] + "." + name
                if nested in funcs:
                    return ("func", ctx.path, nested)
                if nested in s["classes"]:
                    return ("class", ctx.path, nested)
                return ("binding", ("local", f["qualname"], name))
            f = funcs.get(f["parent"]) if f["parent"] else None
        if name in s["imports"]:
            return self.resolve_qualified(s["imports"][name], ctx.path)
        if name in s["classes"]:
            return ("class", ctx.path, name)
        if name in funcs and funcs[name]["cls"] is None:
            return ("func", ctx.path, name)
        if name in funcs["<module>"]["locals"]:
            return ("binding", ("global", name))
        return None

    def resolve_ref(self, ir, ctx):
        """A Name/Attribute chain -> binding or definition."""
        if ir[0] == "n":
            return self.resolve_name(ir[1], ctx)
        if ir[0] == "a":
            base = ir[1]
            if (
                base[0] == "n"
                and ctx.func is not None
                and ctx.func.get("self_name")
                and base[1] == ctx.func["self_name"]
            ):
                return ("binding", ("self", ir[2]))
            inner = self.resolve_ref(base, ctx)
            if inner is None:
                return None
            if inner[0] == "ext":
                return ("ext", inner[1] + "." + ir[2])
            if inner[0] == "module":
                return self.lookup_in_module(inner[1], [ir[2]], 0) or (
                    "ext",
                    self.files[inner[1]]["module"] + "." + ir[2],
                )
            if inner[0] == "class":
                return ("classattr", inner[1], inner[2], ir[2])
            return None
        return None

    # --- classes -------------------------------------------------------------------------------
    def class_bases(self, path, qual):
        cls = self.files[path]["classes"][qual]
        scope = cls.get("scope")
        func = self.files[path]["functions"].get(scope) if scope else None
        ctx = Ctx(path, func, None)
        out = []
        for b in cls["bases"]:
            r = self.resolve_ref(b, ctx) if b[0] in ("n", "a") else None
            out.append(r)
        return out

    def mro(self, path, qual):
        key = (path, qual)
        if key in self.mro_cache:
            return self.mro_cache[key]
        self.mro_cache[key] = [key]  # cycle guard
        result = [key]
        for b in self.class_bases(path, qual):
            if b is not None and b[0] == "class":
                for k in self.mro(b[1], b[2]):
                    if k not in result:
                        result.append(k)
        self.mro_cache[key] = result
        return result

    def external_bases(self, path, qual):
        out = []
        for k in self.mro(path, qual):
            for b in self.class_bases(*k):
                if b is None:
                    out.append(None)
                elif b[0] == "ext":
                    out.append(b[1])
        return out

    def is_module_class(self, path, qual):
        """(is an nn.Module subclass, content known)"""
        key = (path, qual)
        if key in self.module_class_cache:
            return self.module_class_cache[key]
        self.module_class_cache[key] = (False, True)
        result = (False, True)
        for b in self.class_bases(path, qual):
            if b is None:
                continue
            if b[0] == "class":
                is_mod, known = self.is_module_class(b[1], b[2])
                if is_mod:
                    result = (True, result[1] and known)
            elif b[0] == "ext":
                q = b[1]
                if q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                    result = (True, result[1])
                elif q.startswith("torch.nn.") and q.rsplit(".", 1)[-1] in NN_CLASSES:
                    result = (True, result[1])
                elif (
                    q.startswith("torch.nn.")
                    or q.startswith("torchvision.models.")
                    or q
                    in (
                        "pytorch_lightning.LightningModule",
                        "lightning.LightningModule",
                        "lightning.pytorch.LightningModule",
                        "transformers.PreTrainedModel",
                        "transformers.modeling_utils.PreTrainedModel",
                        "diffusers.ModelMixin",
                    )
                ):
                    result = (True, False)
        self.module_class_cache[key] = result
        return result

    def module_traits(self, path, qual, seen=None):
        """(mode-sensitive, has parameters) of an in-tree nn.Module subclass."""
        seen = seen or set()
        if (path, qual) in seen:
            return (False, False)
        seen.add((path, qual))
        is_mod, known = self.is_module_class(path, qual)
        if not known:
            return (True, True)
        sensitive, params = False, False
        for b in self.class_bases(path, qual):
            if b is not None and b[0] == "class":
                s2, p2 = self.module_traits(b[1], b[2], seen)
                sensitive, params = sensitive or s2, params or p2
        cls = self.files[path]["classes"][qual]
        if cls["uses_training_flag"]:
            sensitive = True
        ctx = Ctx(path, None, None)
        for name in cls["body_calls"]:
            if name.startswith("<"):
                continue
            parts = name.split(".")
            call = ("n", parts[0])
            for part in parts[1:]:
                call = ("a", call, part)
            ref = self.resolve_ref(call, ctx)
            if ref is None:
                continue
            if ref[0] == "class":
                if self.is_module_class(ref[1], ref[2])[0]:
                    s2, p2 = self.module_traits(ref[1], ref[2], seen)
                    sensitive, params = sensitive or s2, params or p2
            elif ref[0] == "ext":
                q = ref[1]
                last = q.rsplit(".", 1)[-1]
                if q in SENSITIVE_FUNCTIONS:
                    sensitive = True
                elif q.startswith("torch.nn.") and last[:1].isupper():
                    if last in NN_CLASSES:
                        s2, p2 = NN_CLASSES[last]
                    elif last in NN_DROPOUT_ARG:
                        s2, p2 = self.dropout_kw_sensitive(cls), True
                    elif last == "Parameter":
                        s2, p2 = False, True
                    else:
                        s2, p2 = True, True
                    sensitive, params = sensitive or s2, params or p2
                elif q.startswith("torch.") or q.startswith("math.") or q.startswith("numpy."):
                    continue
                elif q.startswith("torchvision.models."):
                    sensitive, params = True, True
                elif last[:1].isupper() and q.split(".")[0] not in (
                    "typing",
                    "collections",
                    "dataclasses",
                    "enum",
                ):
                    sensitive, params = True, True  # an external class: unknown content
        return (sensitive, params)

    @staticmethod
    def dropout_kw_sensitive(cls):
        return "<dropout>" in cls["body_calls"]

    def class_context_bodies(self, path, qual):
        """Method bodies that run for an instance of this class: the most derived definition of
        each method, base definitions reached through super() or Base.method(self), class-body
        attributes of every class in the MRO, and functions nested in any of those."""
        mro = self.mro(path, qual)
        effective = {}
        for k in mro:
            cls = self.files[k[0]]["classes"][k[1]]
            for name, fq in cls["methods"].items():
                if name == "<classbody>":
                    continue
                effective.setdefault(name, (k[0], fq))
        bodies = []
        seen = set()

        def add(b):
            if b not in seen:
                seen.add(b)
                bodies.append(b)

        for k in mro:
            add((k[0], self.files[k[0]]["classes"][k[1]]["methods"]["<classbody>"]))
        for b in effective.values():
            add(b)
        i = 0
        while i < len(bodies):
            bpath, bq = bodies[i]
            i += 1
            f = self.files[bpath]["functions"][bq]
            for call, _, _ in f["calls"]:
                target = self.call_target(call, bpath, f, (path, qual), mro, effective)
                if (
                    target is not None
                    and target[1] is not None
                    and self.files[target[0]]["functions"][target[1]]["cls"] is not None
                ):
                    add(target)
            # nested functions of this body
            prefix = bq + "."
            for q2, f2 in self.files[bpath]["functions"].items():
                if q2.startswith(prefix) and f2["parent"] == bq:
                    add((bpath, q2))
        return bodies, effective

    def call_target(self, call, path, f, context, mro, effective):
        """The body a call in f reaches: (path, qualname) or None."""
        kind = call[0]
        if kind == "self":
            return effective.get(call[1]) if effective is not None else None
        if kind == "super":
            # The class defining f, then the next class in the context's MRO having the method.
            owner = f["cls"]
            owner_key = (path, owner.split(".<")[0]) if owner else None
            if owner_key is None or mro is None or owner_key not in mro:
                return None
            for k in mro[mro.index(owner_key) + 1 :]:
                fq = self.files[k[0]]["classes"][k[1]]["methods"].get(call[1])
                if fq:
                    return (k[0], fq)
            return None
        if kind == "explicit":
            ref = self.resolve_ref(call[1], Ctx(path, f, None))
            if ref is not None and ref[0] == "class":
                for k in self.mro(ref[1], ref[2]):
                    fq = self.files[k[0]]["classes"][k[1]]["methods"].get(call[2])
                    if fq:
                        return (k[0], fq)
            return None
        if kind == "name":
            ref = self.resolve_name(call[1], Ctx(path, f, None))
            if ref is not None and ref[0] == "func":
                return (ref[1], ref[2])
            return None
        return None

    # --- values --------------------------------------------------------------------------------
    def eval_expr(self, ir, ctx, depth=0):
        """Abstract value of an expression: Model | ("binding", target, evaluated) |
        ("class", ...) | ("func", ...) | ("ext", q) | ("unknown", q) | ("notmodel",) | None."""
        if depth > 8:
            return None
        tag = ir[0]
        if tag in ("n", "a"):
            return self.resolve_ref(ir, ctx)
        if tag == "s":
            return ("unknown", None)
        if tag == "if":
            a = self.eval_expr(ir[1], ctx, depth + 1)
            b = self.eval_expr(ir[2], ctx, depth + 1)
            return a if isinstance(a, Model) or b is None else b
        if tag != "c":
            return None
        func_ir, args, kws, line = ir[1], ir[2], ir[3], ir[4]
        if func_ir[0] == "a":
            method = func_ir[2]
            recv_ir = func_ir[1]
            if method in IDENTITY_METHODS:
                recv = self.eval_expr(recv_ir, ctx, depth + 1)
                evaluated = method == "eval" or (
                    method == "train" and args and args[0] == ("k", False)
                )
                trained = method == "train" and not evaluated
                if isinstance(recv, Model):
                    m = recv.copy()
                    m.eval_done = m.eval_done or evaluated
                    m.trained = m.trained or trained
                    return m
                if isinstance(recv, tuple) and recv[0] == "binding":
                    return ("binding", recv[1], (len(recv) > 2 and recv[2]) or evaluated)
                if isinstance(recv, tuple) and recv[0] == "unknown" and evaluated:
                    label = (recv[1].rsplit(".", 1)[-1] + "()") if recv[1] else "a call"
                    m = Model(
                        "evidence_module", "%s (an nn.Module: eval())" % label, ctx.path, line
                    )
                    m.eval_done = True
                    return m
                if not (isinstance(recv, tuple) and recv[0] in ("ext",)):
                    return recv
            if method in ("from_pretrained", "from_config", "from_single_file"):
                return self.pretrained(recv_ir, method, ctx, line)
            if method == "module" and recv_ir[0] == "c":
                inner = self.eval_expr(recv_ir, ctx, depth + 1)
                if isinstance(inner, tuple) and inner[0] == "exported_program":
                    return Model(
                        "exported_program", "torch.export.load(...).module()", ctx.path, line
                    )
            recv_ref = self.resolve_ref(recv_ir, ctx) if recv_ir[0] in ("n", "a") else None
            if (
                recv_ref is not None
                and recv_ref[0] == "binding"
                and recv_ref[1][0] == "self"
                and ctx.cls is not None
            ):
                return None  # a method of an attribute (self.x.m(...)): unknown
            if (
                recv_ir[0] == "n"
                and ctx.func is not None
                and ctx.func.get("self_name") == recv_ir[1]
                and ctx.cls is not None
            ):
                return self.method_result(method, ctx, line, depth)
        callee = self.eval_expr(func_ir, ctx, depth + 1) if func_ir[0] in ("n", "a") else None
        if callee is None:
            return ("unknown", None)
        kind = callee[0]
        if kind == "ext":
            return self.external_call(callee[1], args, kws, ctx, line, depth)
        if kind == "class":
            if callee[1] == STUB_PATH:
                return ("notmodel",)
            is_mod, _ = self.is_module_class(callee[1], callee[2])
            if is_mod:
                sensitive, params = self.module_traits(callee[1], callee[2])
                m = Model(
                    "tree_module", callee[2] + "()", ctx.path, line, cls=(callee[1], callee[2])
                )
                m.traits = (sensitive, params)
                return m
            return ("notmodel",)
        if kind == "func":
            return self.function_result(callee[1], callee[2], None, ctx, line, depth)
        if kind == "binding":
            return ("unknown", None)
        return ("unknown", None)

    def pretrained(self, recv_ir, method, ctx, line):
        ref = self.resolve_ref(recv_ir, ctx) if recv_ir[0] in ("n", "a") else None
        name = None
        if ref is not None and ref[0] == "ext":
            name = ref[1]
        elif ref is not None and ref[0] == "class":
            name = ref[2]
        last = (name or "").rsplit(".", 1)[-1]
        if name and name.startswith(NON_TORCH_PRETRAINED_ROOTS):
            return ("notmodel",)
        certain = not (ref is not None and ref[0] == "ext" and name.split(".")[0] not in HF_ROOTS)
        if NOT_MODEL_PRETRAINED.search(last):
            return ("notmodel",)
        if PIPELINE_CLASS.search(last):
            return Model("pipeline", last + "." + method, ctx.path, line)
        if method == "from_config":
            return Model("hf_config", (last or "model") + ".from_config", ctx.path, line, certain)
        return Model("hf", (last or "model") + "." + method, ctx.path, line, certain)

    def external_call(self, q, args, kws, ctx, line, depth):
        file_summary = self.files[ctx.path]
        if q in LOADERS:
            kind = LOADERS[q]
            if kind is None:
                return ("notmodel",)
            if kind == "torchscript" and file_summary.get("neuron"):
                return Model("neuron", "torch.jit.load (Neuron-compiled)", ctx.path, line)
            if kind == "hub":
                repo = args[0][1] if args and args[0][0] == "k" else None
                if isinstance(repo, str) and repo.startswith(GUARANTEED_HUB_REPOS):
                    return Model("guaranteed", "torch.hub.load(%r)" % repo, ctx.path, line)
            if kind == "exported_program":
                return ("exported_program",)
            if kind == "hf_any":
                m = Model("hf", q, ctx.path, line)
                m.generic = True
                return m
            return Model(kind, q, ctx.path, line)
        if q in ("typing.cast", "typing_extensions.cast") and len(args) == 2:
            return self.eval_expr(args[1], ctx, depth + 1)
        if q in WRAPPERS:
            if not args:
                return ("unknown", q)
            inner = self.eval_expr(args[0], ctx, depth + 1)
            if isinstance(inner, Model):
                m = inner.copy()
                m.eval_done = m.eval_done or WRAPPERS[q]
                return m
            if isinstance(inner, tuple) and inner[0] == "binding":
                return ("binding", inner[1], (len(inner) > 2 and inner[2]) or WRAPPERS[q])
            if isinstance(inner, tuple) and inner[0] in ("func", "ext"):
                return ("notmodel",)  # a compiled function, not a model
            return ("unknown", q)
        last = q.rsplit(".", 1)[-1]
        if q.startswith("torch.nn.") and last[:1].isupper():
            if last in NN_CLASSES:
                traits = NN_CLASSES[last]
            elif last in NN_DROPOUT_ARG:
                d = kws.get("dropout")
                traits = (not (d is None or (d[0] == "k" and d[1] in (0, 0.0))), True)
            else:
                traits = (True, True)
            m = Model("library_module", q, ctx.path, line)
            m.traits = traits
            return m
        if (
            q.startswith("torchvision.models.")
            and (last[:1].islower() or last[:1].isupper())
            and not last.endswith("_Weights")
            and last not in ("Weights",)
        ):
            return Model("library_module", q, ctx.path, line)
        return ("unknown", q)

    def function_result(self, path, qual, context, ctx, line, depth):
        key = (path, qual, context)
        if key in self.return_cache:
            return self.return_cache[key]
        self.return_cache[key] = ("unknown", None)
        f = self.files[path]["functions"][qual]
        result = ("unknown", None)
        # A return annotation naming a known type decides.
        if f.get("return_annotation"):
            ann = (
                self.resolve_ref(f["return_annotation"], Ctx(path, f, None))
                if f["return_annotation"][0] in ("n", "a")
                else None
            )
            if ann is not None and ann[0] == "ext":
                last = ann[1].rsplit(".", 1)[-1]
                if PIPELINE_CLASS.search(last):
                    result = Model("pipeline", last, path, f["line"])
        if not isinstance(result, Model) and depth < 6:
            inner_ctx = Ctx(path, f, context)
            for ret_ir, ret_path in f["returns"]:
                v = self.eval_expr(ret_ir, inner_ctx, depth + 1)
                if isinstance(v, tuple) and v[0] == "binding" and v[1][0] == "local":
                    v2 = self.binding_value(path, v[1], f, context, ret_path, depth + 1)
                    if v2 is not None:
                        v = v2
                if isinstance(v, Model):
                    result = v
                    break
                if (
                    isinstance(v, tuple)
                    and v[0] in ("notmodel", "unknown")
                    and not isinstance(result, Model)
                ):
                    result = v
        self.return_cache[key] = result
        return result

    def method_result(self, method, ctx, line, depth):
        if ctx.cls is None:
            return None
        bodies, effective = self.context(ctx.cls)
        target = effective.get(method)
        if target is None:
            return ("unknown", None)
        return self.function_result(target[0], target[1], ctx.cls, ctx, line, depth + 1)

    def binding_value(self, path, target, f, context, before_path, depth):
        """Model created for a local binding inside one function (for return analysis), with
        eval() calls in that function before the return taken into account."""
        if depth > 8:
            return None
        found = None
        for t, ir, apath, line in f["assigns"]:
            if t != target:
                continue
            v = self.eval_expr(ir, Ctx(path, f, context), depth + 1)
            if isinstance(v, Model):
                found = v.copy()
                for et, epath, eline in f["evals"]:
                    if et == target and after(epath, apath):
                        found.eval_done = True
        if found is None:
            for et, kind in f["evidence"]:
                if et == target and kind == "load_state_dict":
                    found = Model("evidence_module", "nn.Module (load_state_dict)", path, f["line"])
                    for t, ir, apath, line in f["assigns"]:
                        if t == target:
                            found.line = line
        return found

    # --- contexts ------------------------------------------------------------------------------
    def context(self, key):
        cached = self.context_cache.get(key)
        if cached is None:
            cached = self.class_context_bodies(*key)
            self.context_cache[key] = cached
        return cached


def after(later, earlier):
    """True when the statement at path `later` runs after the one at `earlier` on the paths
    through `earlier` (same block or an enclosing block, later index; or a finally block)."""
    for (lb, li), (eb, ei) in zip(later, earlier):
        if lb < 0:
            return True
        if lb != eb:
            return False
        if li > ei:
            return True
        if li < ei:
            return False
    return False


# ----------------------------------------------------------------------------------------------
# Decisions.
# ----------------------------------------------------------------------------------------------

NON_ENTRY_DECORATORS = {
    "staticmethod",
    "classmethod",
    "property",
    "timed",
    "functools.wraps",
    "abc.abstractmethod",
    "abstractmethod",
    "override",
    "typing.override",
}

WHY_EVAL = (
    "batch-norm and dropout stay in training mode: outputs depend on the batch and on " "chance"
)
WHY_GRAD = "autograd records every operation: memory and latency grow, outputs do not change"


def binding_name(target):
    if target[0] == "self":
        return "self." + target[1]
    return target[-1]


class Records(object):
    __slots__ = ("assigns", "evals", "trains", "runs", "evidence", "precision")

    def __init__(self):
        self.assigns, self.evals, self.trains = [], [], []
        self.runs, self.evidence, self.precision = [], [], []


class Decider(object):
    def __init__(self, tree, skipped):
        self.tree = tree
        self.skipped = skipped
        self.findings = {}
        self.contexts = []
        self.nodes = {}
        self.callers = {}
        self.covered = set()
        self.binding_cache = {}
        self.file_index = {}
        self.alias_cache = {}

    # --- contexts and the call graph -----------------------------------------------------------
    def build(self):
        tree = self.tree
        for path in sorted(tree.files):
            s = tree.files[path]
            if s.get("stub") or path in self.skipped:
                continue
            for qual in s["classes"]:
                key = (path, qual)
                bodies, effective = tree.context(key)
                self.contexts.append((key, bodies, effective))
            module_bodies = [(path, q) for q, f in s["functions"].items() if f["cls"] is None]
            self.contexts.append((("module", path), module_bodies, {}))
        for key, bodies, effective in self.contexts:
            class_key = key if key[0] != "module" else None
            mro = tree.mro(*class_key) if class_key else None
            for bpath, bq in bodies:
                node = (class_key, bpath, bq)
                f = tree.files[bpath]["functions"][bq]
                self.nodes[node] = f
                for call, line, guard in f["calls"]:
                    t = tree.call_target(call, bpath, f, class_key, mro, effective)
                    if t is None:
                        continue
                    tf = tree.files[t[0]]["functions"][t[1]]
                    callee = (class_key if tf["cls"] is not None else None, t[0], t[1])
                    self.callers.setdefault(callee, []).append((node, guard))
        # Grad-free coverage, to a fixed point: a function is covered when it is decorated, or when
        # it is not an entry point and every call to it is guarded or made from a covered one.
        for node, f in self.nodes.items():
            if f["grad_free_decorator"]:
                self.covered.add(node)
        changed = True
        while changed:
            changed = False
            for node, f in self.nodes.items():
                if node in self.covered or self.is_entry(node, f):
                    continue
                callers = self.callers.get(node) or self.callers.get((None,) + node[1:])
                if callers and all(g or c in self.covered for c, g in callers):
                    self.covered.add(node)
                    changed = True

    def is_entry(self, node, f):
        name = f["name"]
        if name in ENTRY_METHODS or name.startswith("<"):
            return True
        for d in f["decorators"]:
            q = dotted(d[1] if d[0] == "c" else d) or ""
            if (
                q
                and q not in NON_ENTRY_DECORATORS
                and q.rsplit(".", 1)[-1]
                not in (
                    "no_grad",
                    "inference_mode",
                    "autocast",
                    "set_grad_enabled",
                    "wraps",
                    "cache",
                    "lru_cache",
                    "timed",
                    "abstractmethod",
                    "staticmethod",
                    "classmethod",
                    "property",
                )
            ):
                return True
        class_key = node[0]
        if class_key and f["is_method"] and not name.startswith("_"):
            cls = self.tree.files[class_key[0]]["classes"][class_key[1]]
            for d in cls["decorators"]:
                q = dotted(d[1] if d[0] == "c" else d) or ""
                if q.endswith("deployment") or q.endswith("service"):
                    return True  # Ray Serve deployments, BentoML services: methods called remotely
        return False

    # --- bindings ------------------------------------------------------------------------------
    def file_records(self, path):
        """Records of the file's local and global bindings, from every function of the file."""
        out = self.file_index.get(path)
        if out is not None:
            return out
        out = self.file_index[path] = {}
        for q, f in self.tree.files[path]["functions"].items():
            for field in ("assigns", "evals", "trains", "runs", "evidence", "precision"):
                for item in f[field]:
                    target = item[0]
                    if target is None or target[0] == "self":
                        continue
                    k = (path, target)
                    r = out.get(k)
                    if r is None:
                        r = out[k] = Records()
                    getattr(r, field).append(((path, q), item))
        return out

    def records(self, key, bodies):
        """Records of every binding seen in a context, keyed by (scope, target): self attributes
        from the context's bodies, locals and globals from their whole file."""
        tree = self.tree
        out = {}
        class_key = key if key[0] != "module" else None
        loose = Records()
        paths = set()
        for bpath, bq in bodies:
            f = tree.files[bpath]["functions"][bq]
            paths.add(bpath)
            for item in f["precision"]:
                if item[0] is None:
                    loose.precision.append(((bpath, bq), item))
            if class_key is None:
                continue
            for field in ("assigns", "evals", "trains", "runs", "evidence", "precision"):
                for item in f[field]:
                    target = item[0]
                    if target is None or target[0] != "self":
                        continue
                    k = (class_key, target)
                    r = out.get(k)
                    if r is None:
                        r = out[k] = Records()
                    getattr(r, field).append(((bpath, bq), item))
        for path in paths:
            out.update(self.file_records(path))
        out[(None, None)] = loose
        return out

    def ctx_for(self, body, class_key):
        f = self.tree.files[body[0]]["functions"][body[1]]
        return Ctx(body[0], f, class_key if f["cls"] is not None else None)

    def models_of(self, k, recs, class_key, depth=0):
        """(models [(Model, body, assign path, line)], canonical binding key)."""
        cache_key = (class_key, k)
        if cache_key in self.binding_cache:
            return self.binding_cache[cache_key]
        self.binding_cache[cache_key] = ([], k)
        r = recs.get(k)
        if r is None:
            return [], k
        tree = self.tree
        models, aliases, unknowns = [], set(), []
        for body, (target, ir, apath, line) in r.assigns:
            v = tree.eval_expr(ir, self.ctx_for(body, class_key))
            if isinstance(v, Model):
                if v.generic and NOT_MODEL_NAME.search(k[1][-1]):
                    continue  # a tokenizer or processor loaded by a generic loader
                models.append((v, body, apath, line))
            elif isinstance(v, tuple) and v[0] == "binding":
                other = v[1]
                scope = class_key if other[0] == "self" else body[0]
                if (scope, other) != k:
                    aliases.add((scope, other))
            elif isinstance(v, tuple) and v[0] == "unknown":
                unknowns.append((v[1], body, apath, line))
        result = (models, k)
        if not models and len(aliases) == 1 and depth < 5:
            other = next(iter(aliases))
            if other in recs:
                result = self.models_of(other, recs, class_key, depth + 1)
        elif not models and unknowns:
            evidence = {kind for _, (t, kind) in r.evidence}
            evaluated = bool(r.evals)
            q, body, apath, line = unknowns[0]
            label = (q.rsplit(".", 1)[-1] + "()") if q else "an unknown call"
            if "load_state_dict" in evidence or evaluated:
                m = Model(
                    "evidence_module",
                    "%s (an nn.Module: %s)"
                    % (label, "load_state_dict()" if "load_state_dict" in evidence else "eval()"),
                    body[0],
                    line,
                )
                result = ([(m, body, apath, line) for q, body, apath, line in unknowns], k)
            elif (
                tree.files[body[0]]["imports_torch"]
                and MODEL_NAME.search(k[1][-1])
                and (q is None or not q.startswith("?"))
            ):
                m = Model("unknown_model", label, body[0], line)
                result = ([(m, body, apath, line)], k)
        self.binding_cache[cache_key] = result
        return result

    def alias_keys(self, canonical, recs, class_key):
        """Bindings that are aliases of `canonical` (their eval() calls count for it)."""
        cache_key = (class_key, canonical)
        cached = self.alias_cache.get(cache_key)
        if cached is not None:
            return cached
        out = self.alias_cache[cache_key] = [canonical]
        for k in recs:
            if k == canonical or k[1] is None:
                continue
            r = recs[k]
            if not r.assigns or len(r.assigns) > 3:
                continue
            models, canon = self.models_of(k, recs, class_key)
            if canon == canonical:
                out.append(k)
        return out

    # --- findings ------------------------------------------------------------------------------
    def add(self, path, line, fid, severity, message, code, evidence, changes_outputs, extra=None):
        key = (path, line, fid)
        old = self.findings.get(key)
        if old is not None:
            if old["severity"] == "unsure" and severity == "certain":
                old["severity"] = "certain"
            return
        if code is None:
            code = self.code_at(path, line)
        finding = {
            "file": path,
            "line": line,
            "id": fid,
            "severity": severity,
            "message": message,
            "code": code,
            "evidence": evidence,
            "changes_outputs": changes_outputs,
        }
        if extra:
            finding.update(extra)
        self.findings[key] = finding

    def code_at(self, path, line):
        s = self.tree.files.get(path)
        lines = s.get("_lines") if s else None
        if lines is None and s is not None and not s.get("stub"):
            try:
                with open(
                    os.path.join(self.tree.root, path), encoding="utf-8", errors="replace"
                ) as h:
                    lines = h.read().split("\n")
            except OSError:
                lines = []
            s["_lines"] = lines
        if lines and 1 <= line <= len(lines):
            return lines[line - 1].strip()
        return ""

    def decide(self):
        tree = self.tree
        for key, bodies, effective in self.contexts:
            class_key = key if key[0] != "module" else None
            if class_key is not None and tree.is_module_class(*class_key)[0]:
                continue  # an nn.Module's own methods: its submodules run when the model runs
            recs = self.records(key, bodies)
            body_set = set(bodies)
            run_bindings = {}
            for k, r in recs.items():
                if k[1] is None:
                    continue
                for body, (target, line, method, guard, code) in r.runs:
                    if body not in body_set:
                        continue
                    if target[0] == "self" and method is None and target[1] in effective:
                        continue  # self.method(...): a call, not a model
                    f = tree.files[body[0]]["functions"][body[1]]
                    if f["needs_grad"] or body[0] in self.skipped:
                        continue
                    models, canonical = self.models_of(k, recs, class_key)
                    if not models:
                        continue
                    runnable = [
                        m
                        for m, _, _, _ in models
                        if method in (None, "forward")
                        or (method in GRAD_FREE_METHODS_HF and m.kind in ("hf", "hf_config"))
                        or m.kind
                        in (
                            "torchscript",
                            "pickled",
                            "tree_module",
                            "library_module",
                            "evidence_module",
                            "hub",
                        )
                    ]
                    if not runnable:
                        continue
                    run_bindings.setdefault(canonical, []).append(
                        (body, line, method, guard, code, runnable)
                    )
                    self.decide_grad(
                        class_key,
                        k,
                        canonical,
                        body,
                        line,
                        method,
                        guard,
                        code,
                        runnable,
                        f,
                        self.frozen(canonical, recs, class_key),
                    )
            for canonical, runs in run_bindings.items():
                self.decide_eval(class_key, key, canonical, recs, runs)
            for k, r in recs.items():
                if k[1] is None:
                    continue
                for body, (target, line, code) in r.trains:
                    f = tree.files[body[0]]["functions"][body[1]]
                    if f["needs_grad"] or body not in body_set:
                        continue
                    models, canonical = self.models_of(k, recs, class_key)
                    if not models:
                        continue
                    m = models[0][0]
                    self.add(
                        body[0],
                        line,
                        "serving.train_call",
                        "certain" if m.certain else "unsure",
                        "puts model '%s' (%s) in training mode: %s; call eval() instead"
                        % (binding_name(canonical[1]), m.label, WHY_EVAL),
                        code,
                        {
                            "model": binding_name(canonical[1]),
                            "created": "%s:%d" % (m.path, m.line),
                        },
                        True,
                    )
            self.decide_precision(class_key, recs, body_set)

    def decide_grad(
        self, class_key, k, canonical, body, line, method, guard, code, models, f, frozen=False
    ):
        tree = self.tree
        node = (class_key if f["cls"] is not None else None, body[0], body[1])
        if guard or frozen or node in self.covered or tree.files[body[0]]["grad_off"]:
            return
        needing = []
        for m in models:
            if not m.grad:
                continue
            if method in GRAD_FREE_METHODS_HF and m.kind in ("hf", "hf_config"):
                continue
            if m.traits is not None and not m.traits[1]:
                continue  # no parameters: nothing for autograd to record
            needing.append(m)
        if not needing or body[0] == STUB_PATH:
            return
        m = needing[0]
        certain = any(x.certain for x in needing)
        callers = self.callers.get(node) or []
        caller_text = ", ".join(
            sorted(
                {
                    "%s:%s" % (c[1], self.tree.files[c[1]]["functions"][c[2]]["line"])
                    for c, g in callers
                    if not g
                }
            )
        )[:200]
        looked = (
            "torch.no_grad()/inference_mode() around this call, on %s(), or in its callers"
            % f["name"]
        )
        if caller_text:
            looked += " (unguarded callers: %s)" % caller_text
        self.add(
            body[0],
            line,
            "serving.no_grad",
            "certain" if certain else "unsure",
            "runs model '%s' (%s, created at %s:%s) with autograd on: no grad-free context on "
            "this path; %s" % (binding_name(canonical[1]), m.label, m.path, m.line, WHY_GRAD),
            code,
            {
                "model": binding_name(canonical[1]),
                "created": "%s:%s" % (m.path, m.line),
                "run": "%s:%d" % (body[0], line),
                "looked_for": looked + ": not found",
            },
            False,
        )

    def frozen(self, canonical, recs, class_key):
        """True when the model's parameters are set not to require gradients."""
        for k in self.alias_keys(canonical, recs, class_key):
            r = recs.get(k)
            if r is not None and any(kind == "frozen" for _, (t, kind) in r.evidence):
                return True
        return False

    def decide_eval(self, class_key, key, canonical, recs, runs):
        tree = self.tree
        models, _ = self.models_of(canonical, recs, class_key)
        keys = self.alias_keys(canonical, recs, class_key)
        evals = []
        trains = []
        for k in keys:
            r = recs.get(k)
            if r is not None:
                evals.extend(r.evals)
                trains.extend(r.trains)
        if trains:
            return  # reported as serving.train_call
        run = runs[0]
        for m, body, apath, line in models:
            if not m.needs_eval or m.eval_done:
                continue
            if m.traits is not None and not m.traits[0]:
                continue  # no dropout, batch-norm or other mode-dependent layer
            covered = False
            for ebody, (t, epath, eline) in evals:
                if ebody != body or after(epath, apath):
                    covered = True
                    break
            if covered:
                continue
            anchor_path, anchor_line = body[0], line
            if anchor_path == STUB_PATH:
                if class_key is None:
                    continue
                anchor_path = class_key[0]
                anchor_line = tree.files[class_key[0]]["classes"][class_key[1]]["line"]
            owner = (
                "%s's methods and bases" % class_key[1]
                if class_key and canonical[1][0] == "self"
                else "this scope"
            )
            self.add(
                anchor_path,
                anchor_line,
                "serving.no_eval",
                "certain" if m.certain else "unsure",
                "model '%s' (%s) is run without eval(): %s"
                % (binding_name(canonical[1]), m.label, WHY_EVAL),
                self.code_at(anchor_path, anchor_line),
                {
                    "model": binding_name(canonical[1]),
                    "created": "%s:%d" % (anchor_path, anchor_line),
                    "origin": "%s:%s" % (m.path, m.line),
                    "run": "%s:%d" % (run[0][0], run[1]),
                    "looked_for": "eval() or train(False) on %s after this assignment, in %s: "
                    "not found" % (binding_name(canonical[1]), owner),
                },
                True,
            )

    def decide_precision(self, class_key, recs, body_set):
        tree = self.tree
        for k, r in recs.items():
            for body, (target, recv_ir, line, dtype, cond, code) in r.precision:
                if body not in body_set:
                    continue
                m = None
                if target is not None:
                    models, canonical = self.models_of(k, recs, class_key)
                    m = models[0][0] if models else None
                if m is None:
                    v = tree.eval_expr(recv_ir, self.ctx_for(body, class_key))
                    m = v if isinstance(v, Model) else None
                if m is None:
                    continue
                name = binding_name(target) if target is not None else m.label
                self.add(
                    body[0],
                    line,
                    "serving.precision",
                    "certain",
                    "runs model '%s' in %s%s" % (name, dtype, ", conditionally" if cond else ""),
                    code,
                    {"model": name, "created": "%s:%s" % (m.path, m.line)},
                    False,
                    {"value": dtype, "conditional": bool(cond)},
                )


# ----------------------------------------------------------------------------------------------
# Driver.
# ----------------------------------------------------------------------------------------------


def list_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in filenames:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
                out.append(rel)
    out.sort()
    return out


def run_phase1(root, files, jobs):
    work = [(root, rel) for rel in files]
    if jobs > 1 and len(work) >= 32:
        try:
            import multiprocessing

            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs) as pool:
                return pool.map(scan_file, work, chunksize=max(1, len(work) // (jobs * 8)))
        except (ImportError, OSError, ValueError):
            pass  # no fork here (or no semaphores): scan in this process
    return [scan_file(w) for w in work]


def scan(root, jobs):
    files = list_files(root)
    skipped = {}
    to_scan = []
    for rel in files:
        if _is_test_path(rel):
            skipped[rel] = "tests"
        else:
            to_scan.append(rel)
    summaries = run_phase1(root, to_scan, jobs)
    findings = []
    good = []
    for s in summaries:
        if "error" in s:
            kind, line, col, msg = s["error"]
            findings.append(
                {
                    "file": s["path"],
                    "line": line,
                    "id": "serving.parse_error",
                    "severity": "certain",
                    "message": "%s: not scanned (%s%s)"
                    % (
                        "does not parse with this Python %d.%d" % sys.version_info[:2]
                        if kind == "syntax"
                        else "cannot be read",
                        msg,
                        ", column %d" % col if col else "",
                    ),
                    "code": "",
                    "evidence": {},
                    "changes_outputs": False,
                }
            )
            continue
        good.append(s)
    for s in good:
        if s["training_markers"] and any(f["needs_grad"] for f in s["functions"].values()):
            skipped[s["path"]] = "training (%s)" % s["training_markers"][0]
    tree = Tree([s for s in good if s["path"] not in skipped])
    tree.root = root
    decider = Decider(tree, set())
    decider.build()
    decider.decide()
    for s in good:
        if s["path"] in skipped:
            continue
        findings.extend(s["settings"])
    findings.extend(decider.findings.values())
    findings.sort(key=lambda f: (f["file"], f["line"], f["id"]))
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "root": root,
        "files": len(files),
        "scanned": len(to_scan) - sum(1 for r in skipped if r in set(to_scan)),
        "skipped": [{"file": k, "reason": v} for k, v in sorted(skipped.items())],
        "findings": findings,
    }


def main(argv):
    if sys.version_info < MIN_PYTHON:
        sys.stderr.write(
            "scan_serving: Python %d.%d or newer is needed, this is %d.%d\n"
            % (MIN_PYTHON + sys.version_info[:2])
        )
        return 3
    args = list(argv)
    jobs = min(4, os.cpu_count() or 1)
    if "--jobs" in args:
        i = args.index("--jobs")
        jobs = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        sys.stderr.write("usage: scan_serving.py DIR [--jobs N]\n")
        return 2
    root = args[0]
    if not os.path.isdir(root):
        sys.stderr.write("scan_serving: %s: not a folder\n" % root)
        return 2
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    # The summaries are millions of small acyclic tuples: the cyclic collector would walk them
    # again and again (a third of the run time) and never free anything. Workers inherit this.
    import gc

    gc.disable()
    report = scan(root, jobs)
    out = json.dumps(report, ensure_ascii=True, separators=(",", ":"))
    sys.stdout.write(out)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

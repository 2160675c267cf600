"""The model behind the KServe v2 test peers: a TorchScript archive run with PyTorch, as a
Python model server (KServe's, MLServer's) would, plus the Open Inference Protocol's datatypes.
Written from the specification (kserve docs/predict-api/v2/required_api.md, "Tensor Data
Types"), independently of replay's C++ code."""
import torch

# v2 datatype -> (torch dtype, struct code, bytes per element)
DATATYPES = {
    "BOOL": (torch.bool, "?", 1),
    "UINT8": (torch.uint8, "B", 1),
    "INT8": (torch.int8, "b", 1),
    "INT16": (torch.int16, "h", 2),
    "INT32": (torch.int32, "i", 4),
    "INT64": (torch.int64, "q", 8),
    "FP16": (torch.float16, "e", 2),
    "FP32": (torch.float32, "f", 4),
    "FP64": (torch.float64, "d", 8),
}
TORCH_TO_V2 = {dtype: name for name, (dtype, _, _) in DATATYPES.items()}


class Refused(Exception):
    """A request the server refuses: HTTP 400 / gRPC INVALID_ARGUMENT (404 / NOT_FOUND)."""

    def __init__(self, message, not_found=False):
        super().__init__(message)
        self.not_found = not_found


class Model:
    def __init__(self, path, name, train_mode=False):
        self.name = name
        self.module = torch.jit.load(path, map_location="cpu")
        # The skew a test asks for: a server that never calls eval().
        self.module.train(train_mode)
        self.train_mode = train_mode

    def check(self, name, version=""):
        if name != self.name or version not in ("", "1"):
            raise Refused("model '%s' version '%s' is not served" % (name, version), True)

    def metadata(self):
        return {"name": self.name, "versions": ["1"], "platform": "pytorch_torchscript",
                "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, -1]}],
                "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, -1]},
                            {"name": "prediction", "datatype": "INT64", "shape": [-1]}]}

    def infer(self, inputs, requested):
        """inputs: [(name, torch tensor)]; requested: output names or []. Returns
        [(name, torch tensor)] in the order asked for (all outputs when none)."""
        if len(inputs) != 1:
            raise Refused("expected 1 input, got %d" % len(inputs))
        name, tensor = inputs[0]
        if name != "input":
            raise Refused("unexpected inference input '%s'" % name)
        with torch.no_grad():
            if self.train_mode:
                output = self.module(tensor)
            else:
                with torch.inference_mode():
                    output = self.module(tensor)
        outputs = {"output": output, "prediction": torch.argmax(output, dim=-1)}
        names = requested or list(outputs)
        for wanted in names:
            if wanted not in outputs:
                raise Refused("unexpected inference output '%s'" % wanted)
        return [(wanted, outputs[wanted]) for wanted in names]


def tensor_from_bytes(datatype, shape, raw):
    if datatype not in DATATYPES:
        raise Refused("datatype %s is not supported by this peer" % datatype)
    dtype, _, size = DATATYPES[datatype]
    count = 1
    for dim in shape:
        count *= dim
    if len(raw) != count * size:
        raise Refused("%d bytes for %s %s" % (len(raw), datatype, shape))
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape) if count else \
        torch.zeros(shape, dtype=dtype)


def tensor_to_bytes(tensor):
    return tensor.contiguous().numpy().tobytes()

"""A Python peer for the LibTorch backend's variants and "mark all" (tests/integration_torch_peer_test.cpp).

Scripts a small model the way users do (torch.jit.script of an nn.Module, saved with its debug
info), and computes in eager PyTorch, independently of replay, what each variant must give:
eval; train() with dropout kept in eval; the model in bfloat16; the inputs rounded through
float16 and bfloat16; TF32 (both operands of the conv and the linear rounded to a 10-bit
mantissa, written here from the definition); every module's output (forward hooks); and the
source line of the relu the archive records. Writes net.pt and expected.json into argv[1].

Run with Debian's /usr/bin/python3 (python3-torch, scripts/setup.sh).
"""
import inspect
import json
import sys

import torch


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 4, 3)
        self.bn = torch.nn.BatchNorm1d(4)

    def forward(self, x):
        y = self.conv(x)
        return torch.relu(self.bn(y))  # RELU_LINE


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.drop = torch.nn.Dropout(0.5)
        self.fc = torch.nn.Linear(4 * 6, 3)

    def forward(self, x):
        h = self.block(x)
        h = self.drop(torch.flatten(h, 1))
        return self.fc(h)


def tensor_json(t):
    t = t.detach().contiguous()
    dtype = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[t.dtype]
    return {"dtype": dtype, "shape": list(t.shape), "data": t.float().flatten().tolist()}


def round_tf32(t):
    bits = t.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & ~0x1FFF & 0xFFFFFFFF
    special = (bits & 0x7F800000) == 0x7F800000
    rounded = torch.where(special, bits, rounded)
    rounded = torch.where(rounded >= 2**31, rounded - 2**32, rounded)
    return rounded.to(torch.int32).view(torch.float32)


def main():
    out = sys.argv[1]
    torch.manual_seed(20240611)
    net = Net()
    with torch.no_grad():  # running statistics far from the batch's
        net.block.bn.running_mean.uniform_(-0.5, 0.5)
        net.block.bn.running_var.uniform_(0.5, 1.5)
    net.eval()
    x = torch.randn(5, 2, 8)
    torch.jit.script(net).save(f"{out}/net.pt")

    expected = {"input": tensor_json(x)}
    with torch.no_grad():
        outputs = {}
        hooks = [m.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o))
                 for name, m in net.named_modules() if name]
        expected["eval"] = tensor_json(net(x))
        for hook in hooks:
            hook.remove()
        expected["modules"] = {name: tensor_json(value) for name, value in outputs.items()}

        trained = Net()
        trained.load_state_dict(net.state_dict())
        trained.train()
        trained.drop.eval()  # replay's training-mode reproduction keeps dropout off
        expected["train"] = tensor_json(trained(x))

        half_net = Net()
        half_net.load_state_dict(net.state_dict())
        half_net.eval().to(torch.bfloat16)
        expected["bfloat16"] = tensor_json(half_net(x.to(torch.bfloat16)).float())

        expected["round_float16"] = tensor_json(net(x.half().float()))
        expected["round_bfloat16"] = tensor_json(net(x.bfloat16().float()))

        conv, bn, fc = net.block.conv, net.block.bn, net.fc
        y = torch.conv1d(round_tf32(x), round_tf32(conv.weight), conv.bias)
        h = torch.flatten(torch.relu(bn(y)), 1)
        expected["tf32"] = tensor_json(torch.nn.functional.linear(round_tf32(h), round_tf32(fc.weight), fc.bias))

    source, first = inspect.getsourcelines(Block.forward)
    expected["relu_line"] = first + next(i for i, line in enumerate(source) if "RELU_LINE" in line)
    expected["script"] = inspect.getsourcefile(Block)
    with open(f"{out}/expected.json", "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()

"""Rules of the serving-code scan (harness/env/scan/scan_serving.py), one small tree per rule:
Python's syntax (docstrings, multi-line headers and decorators), what a model is, scope,
inheritance (in the tree and through the framework table), grad-free paths through callers,
settings, severity, parse errors. Run with any python3 >= 3.8:
    python3 tests/scan_serving_rules_test.py
(ctest runs it with /usr/bin/python3 and with the python3 on PATH)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSER = os.path.join(HERE, "..", "harness", "env", "scan", "scan_serving.py")


def scan(files, jobs=1):
    """Writes {relative path: source} into a fresh folder, scans it, returns the report."""
    root = tempfile.mkdtemp(prefix="scan-rules-")
    try:
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(textwrap.dedent(text).lstrip("\n"))
        out = subprocess.run(
            [sys.executable, ANALYSER, root, "--jobs", str(jobs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=True,
        )
        return json.loads(out.stdout.decode())
    finally:
        shutil.rmtree(root)


def found(report, fid=None):
    """{(file, line, id, severity)} of the report's findings (of one id when given)."""
    return {
        (f["file"], f["line"], f["id"], f["severity"])
        for f in report["findings"]
        if fid is None or f["id"] == fid
    }


class Syntax(unittest.TestCase):
    def test_docstrings_comments_and_strings_are_never_code(self):
        r = scan(
            {
                "h.py": '''
            """model(x) runs the model; model_pt_path (str): the path. self.model(data)"""
            import torch
            # model(x)
            text = "model(x) and self.model.forward(x)"
            def f(model_pt_path):
                """Args:
                    model_pt_path (str): denotes the path of the model file.
                    model (nn.Module): model(x) is called here.
                """
                return model_pt_path
            '''
            }
        )
        self.assertEqual(found(r), set())

    def test_multi_line_decorator_over_multi_line_def_is_a_guard(self):
        r = scan(
            {
                "h.py": """
            import torch
            model = torch.jit.load("m.pt").eval()
            @torch.no_grad(
            )
            def generate(
                prompt,
                *,
                steps=3,
            ):
                return model(prompt)
            """
            }
        )
        self.assertEqual(found(r), set())

    def test_decorator_without_parentheses_is_a_guard(self):
        r = scan(
            {
                "h.py": """
            import torch
            model = torch.jit.load("m.pt").eval()
            @torch.inference_mode
            def run(x):
                return model(x)
            """
            }
        )
        self.assertEqual(found(r), set())

    def test_multi_line_with_header_is_a_guard_and_autocast_is_reported(self):
        r = scan(
            {
                "h.py": """
            import torch
            model = torch.jit.load("m.pt")
            model.eval()
            def run(x, amp):
                with torch.no_grad(), torch.autocast(
                    device_type="cuda", enabled=amp, dtype=torch.float16
                ):
                    return model(x)
            """
            }
        )
        self.assertEqual(found(r), {("h.py", 5, "serving.precision", "certain")})
        finding = r["findings"][0]
        self.assertTrue(finding["conditional"])  # enabled=amp decides at run time

    def test_a_file_that_does_not_parse_is_reported_not_guessed(self):
        r = scan(
            {
                "bad.py": "import torch\nmodel = torch.jit.load('m.pt')\ndef f(:\n    model(x)\n",
                "ok.py": "x = 1\n",
            }
        )
        self.assertEqual(found(r), {("bad.py", 3, "serving.parse_error", "certain")})


class WhatAModelIs(unittest.TestCase):
    def test_tokenizers_processors_and_pipelines_are_not_models(self):
        r = scan(
            {
                "h.py": """
            import torch
            from transformers import AutoTokenizer, AutoProcessor, pipeline
            from diffusers import DiffusionPipeline
            tok = AutoTokenizer.from_pretrained("x")
            proc = AutoProcessor.from_pretrained("x")
            pipe = DiffusionPipeline.from_pretrained("x")
            clf = pipeline("sentiment-analysis")
            def predict(text, image):
                return tok(text), proc(image), pipe(text).images, clf(text)
            """
            }
        )
        self.assertEqual(found(r), set())

    def test_from_pretrained_is_eval_but_needs_no_grad_and_generate_does_not(self):
        r = scan(
            {
                "h.py": """
            import torch
            from transformers import AutoModelForCausalLM
            model = AutoModelForCausalLM.from_pretrained("x")
            def score(ids):
                return model(ids)
            def complete(ids):
                return model.generate(ids)
            """
            }
        )
        self.assertEqual(found(r), {("h.py", 5, "serving.no_grad", "certain")})

    def test_from_config_is_not_in_eval_mode(self):
        r = scan(
            {
                "h.py": """
            import torch
            from transformers import AutoConfig, AutoModel
            model = AutoModel.from_config(AutoConfig.from_pretrained("x"))
            @torch.no_grad()
            def score(ids):
                return model(ids)
            """
            }
        )
        self.assertEqual(found(r), {("h.py", 3, "serving.no_eval", "certain")})

    def test_tensor_from_torch_load_is_not_a_model_unless_run(self):
        r = scan(
            {
                "h.py": """
            import io, torch
            def handle(data):
                tensor = torch.load(io.BytesIO(data))
                vocab = torch.load("vocab.pt")
                return tensor.sum(), vocab["a"]
            """
            }
        )
        self.assertEqual(found(r), set())

    def test_module_of_the_tree_without_dropout_or_batch_norm_needs_no_eval(self):
        r = scan(
            {
                "net.py": """
            import torch
            from torch import nn
            class Small(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 2)
                def forward(self, x):
                    return torch.relu(self.fc(x))
            class WithDropout(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 2)
                    self.drop = nn.Dropout(0.1)
                def forward(self, x):
                    return self.drop(self.fc(x))
            class NoParams(nn.Module):
                def forward(self, a, b):
                    return a + b
            """,
                "serve.py": """
            import torch
            from net import Small, WithDropout, NoParams
            small = Small()
            dropout = WithDropout()
            plain = NoParams()
            def predict(x):
                with torch.no_grad():
                    return small(x), dropout(x)
            def add(a, b):
                return plain(a, b)
            """,
            }
        )
        self.assertEqual(found(r), {("serve.py", 4, "serving.no_eval", "certain")})

    def test_unknown_loader_is_unsure_and_load_state_dict_makes_it_certain(self):
        r = scan(
            {
                "h.py": """
            import torch
            from somewhere import load_model, Builder
            model = load_model("m.bin")
            net = Builder()
            net.load_state_dict(torch.load("w.pt"))
            def predict(x):
                a = model(x)
                return a, net.infer(x)
            """
            }
        )
        self.assertEqual(
            found(r),
            {
                ("h.py", 3, "serving.no_eval", "unsure"),
                ("h.py", 7, "serving.no_grad", "unsure"),
                ("h.py", 4, "serving.no_eval", "certain"),
                ("h.py", 8, "serving.no_grad", "certain"),
            },
        )

    def test_compiled_function_is_not_a_model(self):
        r = scan(
            {
                "h.py": """
            import torch
            from generate import model_forward
            model_forward = torch.compile(model_forward)
            def step(m, x):
                return model_forward(m, x)
            """
            }
        )
        self.assertEqual(found(r), set())

    def test_attribution_and_training_runs_are_not_serving_findings(self):
        r = scan(
            {
                "h.py": """
            import torch
            from captum.attr import IntegratedGradients
            model = torch.jit.load("m.pt").eval()
            def explain(x):
                ig = IntegratedGradients(model)
                out = model(x)
                return ig.attribute(x, target=out.argmax())
            """,
                "train.py": """
            import torch
            model = torch.jit.load("m.pt")
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            def step(x, y):
                model.train()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                opt.step()
            """,
            }
        )
        self.assertEqual(found(r), set())
        self.assertIn(
            {"file": "train.py", "reason": "training (torch.optim.SGD at line 3)"}, r["skipped"]
        )


class Scope(unittest.TestCase):
    def test_a_namesake_evaluated_in_another_file_does_not_hide_the_missing_eval(self):
        r = scan(
            {
                "a.py": """
            import torch
            class A:
                def initialize(self):
                    self.model = torch.jit.load("a.pt")
                    self.model.eval()
                @torch.no_grad()
                def handle(self, x):
                    return self.model(x)
            """,
                "b.py": """
            import torch
            class B:
                def initialize(self):
                    self.model = torch.jit.load("b.pt")
                @torch.no_grad()
                def handle(self, x):
                    return self.model(x)
            """,
            }
        )
        self.assertEqual(found(r), {("b.py", 4, "serving.no_eval", "certain")})

    def test_eval_in_a_sibling_branch_does_not_count(self):
        r = scan(
            {
                "h.py": """
            import torch
            class H:
                def initialize(self, eager):
                    if eager:
                        self.model = torch.load("m.pt")
                        self.model.eval()
                    else:
                        self.model = torch.jit.load("m.pt")
                def handle(self, x):
                    with torch.inference_mode():
                        return self.model(x)
            """
            }
        )
        self.assertEqual(found(r), {("h.py", 8, "serving.no_eval", "certain")})

    def test_eval_after_the_branches_covers_both(self):
        r = scan(
            {
                "h.py": """
            import torch
            class H:
                def initialize(self, eager):
                    if eager:
                        self.model = torch.load("m.pt")
                    else:
                        self.model = torch.jit.load("m.pt")
                    self.model.to("cpu").eval()
                def handle(self, x):
                    with torch.inference_mode():
                        return self.model(x)
            """
            }
        )
        self.assertEqual(found(r), set())

    def test_a_local_alias_is_the_same_model(self):
        r = scan(
            {
                "h.py": """
            import torch
            class H:
                def initialize(self):
                    self.model = torch.jit.load("m.pt")
                def handle(self, x):
                    decoder = self.model
                    return decoder(x)
            """
            }
        )
        self.assertEqual(
            found(r),
            {("h.py", 4, "serving.no_eval", "certain"), ("h.py", 7, "serving.no_grad", "certain")},
        )


class Inheritance(unittest.TestCase):
    BASE = """
        import torch
        class Base:
            def initialize(self, ctx):
                self.model = self._load(ctx)
                self.model.eval()
            def _load(self, ctx):
                return torch.jit.load(ctx)
            def inference(self, data):
                with torch.inference_mode():
                    return self.model(data)
            def handle(self, data, ctx):
                return self.inference(data)
        """

    def test_a_subclass_relying_on_the_base_has_eval_and_no_grad(self):
        r = scan(
            {
                "pkg/base.py": self.BASE,
                "pkg/sub.py": """
            from pkg.base import Base
            class Sub(Base):
                def postprocess(self, data):
                    return data.tolist()
            """,
            }
        )
        self.assertEqual(found(r), set())

    def test_an_override_without_super_that_loads_the_model_has_no_eval(self):
        r = scan(
            {
                "pkg/base.py": self.BASE,
                "pkg/sub.py": """
            from .base import Base
            class Sub(Base):
                def initialize(self, ctx):
                    self.model = self._load(ctx)
            """,
            }
        )
        self.assertEqual(found(r), {("pkg/sub.py", 4, "serving.no_eval", "certain")})

    def test_an_override_calling_super_keeps_eval(self):
        r = scan(
            {
                "pkg/base.py": self.BASE,
                "pkg/sub.py": """
            from .base import Base
            class Sub(Base):
                def initialize(self, ctx):
                    super().initialize(ctx)
                    self.extra = 1
            """,
            }
        )
        self.assertEqual(found(r), set())

    def test_an_override_of_inference_loses_the_guard(self):
        r = scan(
            {
                "pkg/base.py": self.BASE,
                "pkg/sub.py": """
            from .base import Base
            class Sub(Base):
                def inference(self, data):
                    return self.model(data)
            """,
            }
        )
        self.assertEqual(found(r), {("pkg/sub.py", 4, "serving.no_grad", "certain")})

    def test_torchserve_base_handler_from_the_table_when_not_in_the_tree(self):
        r = scan(
            {
                "handler.py": """
            import torch
            from ts.torch_handler.image_classifier import ImageClassifier
            class Relies(ImageClassifier):
                def postprocess(self, data):
                    return data.argmax(1).tolist()
            class Overrides(ImageClassifier):
                def initialize(self, context):
                    self.model = self._load_torchscript_model("model.pt")
            class Unguarded(ImageClassifier):
                def inference(self, data):
                    return self.model(data)
            """
            }
        )
        self.assertEqual(
            found(r),
            {
                ("handler.py", 8, "serving.no_eval", "certain"),
                ("handler.py", 11, "serving.no_grad", "certain"),
            },
        )


class GradFreePaths(unittest.TestCase):
    def test_a_helper_called_only_under_inference_mode_is_covered(self):
        r = scan(
            {
                "h.py": """
            import torch
            class H:
                def initialize(self):
                    self.model = torch.jit.load("m.pt").eval()
                def inference(self, data):
                    with torch.inference_mode():
                        return self._run(data)
                def _run(self, data):
                    return self.model(data)
            """
            }
        )
        self.assertEqual(found(r), set())

    def test_a_helper_with_one_unguarded_caller_is_not(self):
        r = scan(
            {
                "h.py": """
            import torch
            class H:
                def initialize(self):
                    self.model = torch.jit.load("m.pt").eval()
                def inference(self, data):
                    with torch.inference_mode():
                        return self._run(data)
                def warmup(self, data):
                    return self._run(data)
                def _run(self, data):
                    return self.model(data)
            """
            }
        )
        self.assertEqual(found(r), {("h.py", 11, "serving.no_grad", "certain")})

    def test_frozen_parameters_need_no_grad_free_context(self):
        source = """
            import torch
            class Service:
                def initialize(self, path):
                    checkpoint = torch.load(path, map_location="cpu")
                    model = checkpoint["model"]
                    model.load_state_dict(checkpoint["state_dict"])
                    for param in model.parameters():
                        param.requires_grad = False
                    self.model = model
                def inference(self, x):
                    self.model.eval()
                    return self.model.forward(x)
            """
        self.assertEqual(found(scan({"h.py": source})), set())
        unfrozen = source.replace("param.requires_grad = False", "pass")
        self.assertEqual(
            found(scan({"h.py": unfrozen})), {("h.py", 12, "serving.no_grad", "certain")}
        )

    def test_set_grad_enabled_false_at_module_level(self):
        r = scan(
            {
                "h.py": """
            import torch
            torch.set_grad_enabled(False)
            model = torch.jit.load("m.pt").eval()
            def predict(x):
                return model(x)
            """
            }
        )
        self.assertEqual(found(r), set())


class Settings(unittest.TestCase):
    def test_values_and_conditions(self):
        r = scan(
            {
                "s.py": """
            import os
            import torch
            torch.backends.cuda.matmul.allow_tf32 = True
            if torch.cuda.is_available():
                torch.backends.cudnn.allow_tf32 = False
            torch.set_float32_matmul_precision("high")
            torch.use_deterministic_algorithms(True)
            os.environ["NVIDIA_TF32_OVERRIDE"] = "0"
            model = torch.jit.load("m.pt").eval().half()
            """
            }
        )
        got = {(f["line"], f["id"], f["value"], f["conditional"]) for f in r["findings"]}
        self.assertEqual(
            got,
            {
                (3, "serving.tf32", "True", False),
                (5, "serving.tf32", "False", True),
                (6, "serving.tf32", '"high"', False),
                (7, "serving.determinism", "True", False),
                (8, "serving.tf32", '"0"', False),
                (9, "serving.precision", "torch.float16", False),
            },
        )


class Parallel(unittest.TestCase):
    def test_worker_processes_give_the_same_report(self):
        files = {
            "m%02d.py"
            % i: """
            import torch
            model = torch.jit.load("m.pt")
            def predict(x):
                return model(x)
            """
            for i in range(40)
        }
        self.assertEqual(scan(files, jobs=1)["findings"], scan(files, jobs=2)["findings"])
        self.assertEqual(len(scan(files, jobs=2)["findings"]), 80)


if __name__ == "__main__":
    unittest.main(verbosity=1)

"""DenseNet's memory-efficient (recomputing) path must be the same function as the plain one."""
import torch

import cifarzoo


def test_memory_efficient_matches_plain_path():
    torch.manual_seed(0)
    plain = cifarzoo.create_model("densenet121_k12")
    lean = cifarzoo.create_model("densenet121_k12", memory_efficient=True)
    lean.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    ya, yb = plain(x), lean(x)
    torch.testing.assert_close(ya, yb)
    ya.sum().backward()
    yb.sum().backward()
    for (name, p), q in zip(plain.named_parameters(), lean.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    # running statistics moved exactly once in both (the recomputation must not update them again)
    for (name, a), b in zip(plain.named_buffers(), lean.buffers()):
        torch.testing.assert_close(a, b, msg=name)

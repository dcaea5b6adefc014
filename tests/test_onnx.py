"""Every registered model exports to ONNX (TorchScript exporter) and onnxruntime reproduces the
eager output on the CPU within 1e-4.  Slow: run with `pytest -m slow tests/test_onnx.py`."""
import io

import numpy as np
import pytest
import torch

import cifarzoo

ort = pytest.importorskip("onnxruntime")


@pytest.mark.slow
@pytest.mark.parametrize("name", cifarzoo.list_models())
def test_onnx_export_matches_eager(name):
    torch.manual_seed(0)
    model = cifarzoo.create_model(name).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x).numpy()
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["images"], output_names=["logits"],
                      opset_version=17)
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)

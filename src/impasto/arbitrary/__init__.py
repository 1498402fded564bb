"""Any painting in one pass: Ghiasi et al.'s style-prediction network (BMVC 2017) over impasto's
conditional-norm transformation network."""

from pathlib import Path

SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "arbitrary.safetensors"  # no torch to find it

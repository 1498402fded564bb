"""Any painting in one pass: Ghiasi et al.'s style-prediction network (BMVC 2017) over impasto's
conditional-norm transformation network."""

"""Metrics: equivariance (APE/PCDP), pose (cm-deg, ADD(-S), BOP), tracking (TAP-Vid) and keypoints (PCK)."""

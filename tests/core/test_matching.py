import torch

from mveq_core.matching import mutual_nearest_neighbours


def test_mutual_nearest_neighbours_matches_brute_force_for_any_block_size():
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(700, 32, generator=g), dim=1)
    d = torch.nn.functional.normalize(torch.randn(900, 32, generator=g), dim=1)
    d[:300] = q[:300] + 0.01 * torch.randn(300, 32, generator=g)  # 300 true pairs
    d = torch.nn.functional.normalize(d, dim=1)
    sim = q @ d.T
    fwd, bwd = sim.argmax(1), sim.argmax(0)
    expected = {(i, int(fwd[i])) for i in range(700) if int(bwd[fwd[i]]) == i}
    for block in (1000, 50_000, 10_000_000):
        m = mutual_nearest_neighbours(q, d, max_elements=block)
        got = set(zip(m.query_index.tolist(), m.database_index.tolist()))
        assert got == expected
        torch.testing.assert_close(m.similarity, sim[m.query_index, m.database_index])
    assert {(i, i) for i in range(300)} <= expected


def test_empty_inputs():
    m = mutual_nearest_neighbours(torch.zeros(0, 8), torch.randn(5, 8))
    assert len(m) == 0


def test_principal_directions_keep_the_dot_products_they_span():
    """``match_dims``' projection: descriptors lying in an 8-dimensional subspace of 32 keep every dot
    product, and so every mutual pair, when projected onto 8 principal directions; 4 lose some."""
    import pytest

    from mveq_core.matching import principal_directions

    g = torch.Generator().manual_seed(1)
    span = torch.linalg.qr(torch.randn(32, 8, generator=g))[0]  # (32, 8) orthonormal
    q = torch.nn.functional.normalize(torch.randn(400, 8, generator=g) @ span.T, dim=1)
    d = torch.nn.functional.normalize(torch.randn(600, 8, generator=g) @ span.T, dim=1)
    basis = principal_directions(d, 8)
    assert basis.shape == (32, 8)
    torch.testing.assert_close((q @ basis) @ (d @ basis).T, q @ d.T, atol=1e-5, rtol=0)
    full, projected = mutual_nearest_neighbours(q, d), mutual_nearest_neighbours(q @ basis, d @ basis)
    assert torch.equal(full.query_index, projected.query_index) and torch.equal(full.database_index, projected.database_index)
    fewer = principal_directions(d, 4)
    assert (((q @ fewer) @ (d @ fewer).T) - q @ d.T).abs().max() > 0.1
    for bad in (0, 33):
        with pytest.raises(ValueError, match="dims must be in 1..32"):
            principal_directions(d, bad)

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

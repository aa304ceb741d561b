import pytest
from smash_emu import Client, RpcError


def test_psmash_io_splits_the_2mb_leaf(smash_emu: Client) -> None:
    prep = smash_emu.call("tmpm.preparePsmash", {"domainId": 1, "iova": "0x200000"})
    keys = ("srcPgSpa", "smashHpteSpa", "srcHpmdSpa", "gctxSpa")
    assert smash_emu.call("tmpm.psmashIo", {k: prep[k] for k in keys})["statusName"] == "SUCCESS"
    assert smash_emu.call("iommu.walk", {"deviceId": 0x100, "iova": "0x203000"})["sizeLg2"] == 12
    with pytest.raises(RpcError) as refused:
        smash_emu.call("mem.read64", {"spa": "0x1", "count": 1})
    assert refused.value.code == -32602

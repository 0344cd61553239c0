using Strata.Pool.Space;
using Xunit;

namespace Strata.Pool.Tests.Space;

public sealed class ChunkMapTests
{
    [Fact]
    public void A_shared_map_copies_a_page_only_when_one_side_changes_it()
    {
        var volume = new ChunkMap(4096);
        for (uint l = 0; l < 4096; l += 2)
        {
            volume.Set(l, l + 7);
        }

        var snapshot = volume.Share();
        volume.Set(3, 99); // one page diverges
        Assert.True(snapshot.TryGet(2, out uint p) && p == 9);
        Assert.False(snapshot.TryGet(3, out _));
        Assert.True(volume.TryGet(3, out p) && p == 99);
        Assert.Equal(2048, snapshot.Count);
        Assert.Equal(2049, volume.Count);
    }

    [Fact]
    public void Identical_pages_are_shared_again_after_loading()
    {
        var volume = new ChunkMap(4096);
        var snapshot = new ChunkMap(4096);
        for (uint l = 0; l < 4096; l++)
        {
            volume.Set(l, l);
            snapshot.Set(l, l == 1500 ? 5000 : l);
        }

        snapshot.ShareIdenticalPagesWith(volume);
        volume.Set(10, 7777); // a shared page: the volume copies it, the snapshot keeps the old entry
        Assert.True(snapshot.TryGet(10, out uint p) && p == 10);
        Assert.True(snapshot.TryGet(1500, out p) && p == 5000);
        Assert.True(volume.TryGet(1500, out p) && p == 1500);
    }
}

using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

public sealed class SparseBitmapTests
{
    [Fact]
    public void Set_clear_and_walk_runs_across_words_and_leaves()
    {
        var map = new SparseBitmap(100_000);
        Assert.True(map.IsEmpty);
        map.Set(60, 10);          // across a word boundary
        map.Set(32_760, 20);      // across a leaf boundary
        map.Set(99_999, 5);       // clipped at the end
        Assert.Equal(31, map.Count());
        Assert.Equal(60, map.NextSet(0));
        Assert.Equal(10, map.RunLength(60, 100));
        Assert.Equal(32_760, map.NextSet(70));
        Assert.Equal(20, map.RunLength(32_760, 100));
        Assert.Equal(5, map.RunLength(32_760, 5));
        Assert.Equal(99_999, map.NextSet(32_780));
        Assert.Equal(-1, map.NextSet(100_000));

        map.Clear(62, 100);
        Assert.Equal(2, map.RunLength(60, 100));
        Assert.Equal(32_760, map.NextSet(62));

        var other = new SparseBitmap(100_000);
        other.Set(5, 1);
        other.Union(map);
        Assert.Equal(map.Count() + 1, other.Count());
        map.Reset();
        Assert.True(map.IsEmpty);
    }

    [Fact]
    public void Concurrent_marks_are_never_lost()
    {
        var map = new SparseBitmap(1 << 20);
        Parallel.For(0, 1 << 16, i => map.Set(i * 16L, 1));
        Assert.Equal(1 << 16, map.Count());
    }

    [Fact]
    public void Maps_of_different_sizes_do_not_merge() =>
        Assert.Throws<ArgumentException>(() => new SparseBitmap(10).Union(new SparseBitmap(11)));
}

using Xunit;

namespace Strata.Pool.Tests.Faults;

/// <summary>Opening the wrong files is a clear error that names them, and changes nothing.</summary>
public sealed class OpenErrorTests
{
    [Fact]
    public async Task A_vdev_of_another_pool_is_named()
    {
        using var dir = new TempDirectory();
        await (await PoolFixture.CreateAsync(dir, vdevs: 2, name: "one")).DisposeAsync();
        await (await PoolFixture.CreateAsync(dir, vdevs: 1, name: "two")).DisposeAsync();
        var e = await Assert.ThrowsAsync<PoolException>(() => StoragePool.OpenAsync([dir.File("one0"), dir.File("two0")]));
        Assert.Contains("two0 belongs to pool 'two'", e.Message);
        Assert.Contains("pool 'one'", e.Message);
    }

    [Fact]
    public async Task A_striped_pool_missing_a_vdev_does_not_open()
    {
        using var dir = new TempDirectory();
        await (await PoolFixture.CreateAsync(dir, vdevs: 2)).DisposeAsync();
        var e = await Assert.ThrowsAsync<PoolException>(() => StoragePool.OpenAsync([dir.File("p0")]));
        Assert.Contains("vdev 1", e.Message);
        Assert.Contains("p1", e.Message);
        Assert.Contains("striped pool needs every vdev", e.Message);
    }

    [Fact]
    public async Task Two_copies_of_one_vdev_are_refused()
    {
        using var dir = new TempDirectory();
        await (await PoolFixture.CreateAsync(dir, vdevs: 2)).DisposeAsync();
        File.Copy(dir.File("p1"), dir.File("copy"));
        var e = await Assert.ThrowsAsync<PoolException>(() => StoragePool.OpenAsync([dir.File("p0"), dir.File("p1"), dir.File("copy")]));
        Assert.Contains("both vdev 1", e.Message);
    }

    [Fact]
    public async Task Creating_over_a_vdev_of_a_pool_is_refused_and_leaves_it_intact()
    {
        using var dir = new TempDirectory();
        var pool = await PoolFixture.CreateAsync(dir);
        var data = await PoolFixture.WriteVolumeAsync(pool, "v", 64 * 1024, seed: 3);
        await pool.DisposeAsync();
        var e = await Assert.ThrowsAsync<PoolException>(() => PoolFixture.CreateAsync(dir, name: "p"));
        Assert.Contains("already holds vdev 0 of pool 'p'", e.Message);
        pool = await StoragePool.OpenAsync(PoolFixture.Paths(dir, 1));
        await using (pool)
        {
            Assert.Equal(data, await PoolFixture.ReadVolumeAsync(pool, "v"));
        }
    }

    [Fact]
    public async Task A_file_that_is_not_a_vdev_is_named()
    {
        using var dir = new TempDirectory();
        await File.WriteAllBytesAsync(dir.File("junk"), new byte[1 << 20]);
        var e = await Assert.ThrowsAsync<PoolException>(() => StoragePool.OpenAsync([dir.File("junk")]));
        Assert.Contains("junk: not a Strata pool vdev", e.Message);
    }

    [Theory]
    [InlineData(PoolLayout.Mirrored, 3, "in pairs")]
    [InlineData(PoolLayout.Striped, 0, "1 to 64 vdevs")]
    public async Task Bad_layouts_are_refused(PoolLayout layout, int vdevs, string expected)
    {
        using var dir = new TempDirectory();
        var e = await Assert.ThrowsAsync<PoolException>(() => PoolFixture.CreateAsync(dir, layout, vdevs));
        Assert.Contains(expected, e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}

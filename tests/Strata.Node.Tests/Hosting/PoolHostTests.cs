using Strata.Control.Resources;
using Strata.Node.Hosting;
using Xunit;

namespace Strata.Node.Tests.Hosting;

/// <summary>What a node does with the files it finds where a sparse pool should be: it never makes a pool over a label, and never deletes a file.</summary>
public sealed class PoolHostTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-poolhost-").FullName;
    private readonly List<string> _log = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Strata.Control.Resources.StoragePool Assigned(string name) => new()
    {
        Metadata = { Name = name },
        Spec = { Claim = "cstor-pool", Node = "node-1", Type = "sparse", PoolType = "striped" },
    };

    [Fact]
    public async Task An_unlabelled_file_from_a_cut_short_creation_is_set_aside_and_the_pool_made()
    {
        await using var host = new PoolHost(_dir, 64L << 20, _log.Add);
        string vdev = Path.Combine(host.DirectoryOf("pool-a"), "vdev-0.img");
        Directory.CreateDirectory(Path.GetDirectoryName(vdev)!);
        await File.WriteAllBytesAsync(vdev, [1, 2, 3, 4]);

        await host.EnsureAsync(Assigned("pool-a"));

        Assert.NotNull(host.Find("pool-a"));
        var aside = Directory.GetFiles(host.DirectoryOf("pool-a"), "vdev-0.img.unlabelled-*");
        Assert.Single(aside);
        Assert.Equal([1, 2, 3, 4], await File.ReadAllBytesAsync(aside[0]));
    }

    [Fact]
    public async Task Files_labelled_for_another_pool_are_refused_and_left_as_they_are()
    {
        string vdev;
        await using (var first = new PoolHost(_dir, 64L << 20, _log.Add))
        {
            await first.EnsureAsync(Assigned("pool-a"));
            Assert.NotNull(first.Find("pool-a"));
            vdev = Path.Combine(first.DirectoryOf("pool-a"), "vdev-0.img");
        }

        // The same directory now assigned under another name (a mix-up): pool-a's files must not become pool-b.
        Directory.Move(Path.GetDirectoryName(vdev)!, Path.Combine(_dir, "pools", "pool-b"));
        string moved = Path.Combine(_dir, "pools", "pool-b", "vdev-0.img");
        byte[] before = await File.ReadAllBytesAsync(moved);
        await using var second = new PoolHost(_dir, 64L << 20, _log.Add);
        await second.EnsureAsync(Assigned("pool-b"));

        Assert.Null(second.Find("pool-b"));
        Assert.Contains("hold pool 'pool-a'", second.Failure("pool-b"), StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(moved));
    }
}

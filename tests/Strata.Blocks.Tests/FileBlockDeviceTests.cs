using Xunit;

namespace Strata.Blocks.Tests;

public sealed class FileBlockDeviceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-fbd-").FullName;

    [Fact]
    public async Task A_new_file_is_sparse_and_unmap_punches_holes()
    {
        string path = Path.Combine(_dir, "sparse.img");
        await using var dev = FileBlockDevice.Open(path, 64L << 20);
        Assert.Equal(64L << 20, new FileInfo(path).Length);
        Assert.True(AllocatedBytes(path) < 1 << 20);

        var data = new byte[4 << 20];
        data.AsSpan().Fill(0xAB);
        await dev.WriteAsync(0, data, WriteFlags.None);
        await dev.FlushAsync();
        Assert.True(AllocatedBytes(path) >= 4 << 20);

        await dev.UnmapAsync(0, (4 << 20) / 512);
        await dev.FlushAsync();
        Assert.True(AllocatedBytes(path) < 1 << 20, "unmap did not deallocate the blocks");
    }

    [Fact]
    public void Opening_a_missing_file_without_a_size_names_the_file()
    {
        string path = Path.Combine(_dir, "missing.img");
        var e = Assert.Throws<FileNotFoundException>(() => FileBlockDevice.Open(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sizes_that_are_not_whole_blocks_are_refused()
    {
        Assert.Throws<ArgumentException>(() => FileBlockDevice.Open(Path.Combine(_dir, "odd.img"), 1000));
        Assert.Throws<ArgumentException>(() => FileBlockDevice.Open(Path.Combine(_dir, "bs.img"), 4096, blockSize: 1024));
    }

    [Fact]
    public async Task An_existing_file_keeps_its_size_and_data()
    {
        string path = Path.Combine(_dir, "keep.img");
        await using (var dev = FileBlockDevice.Open(path, 1 << 20, 4096))
        {
            await dev.WriteAsync(3, Enumerable.Repeat((byte)9, 4096).ToArray(), WriteFlags.Fua);
        }

        await using var again = FileBlockDevice.Open(path, blockSize: 4096);
        Assert.Equal(256, again.BlockCount);
        var back = new byte[4096];
        await again.ReadAsync(3, back);
        Assert.All(back, b => Assert.Equal(9, b));
    }

    private static long AllocatedBytes(string path)
    {
        // st_blocks via du: the bytes the file system really holds for the file.
        var psi = new System.Diagnostics.ProcessStartInfo("du", ["-B1", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(output.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

using Strata.Blocks;

namespace Strata.Pool.Tests.Faults;

/// <summary>Small pools with recognizable data, for the fault tests.</summary>
internal static class PoolFixture
{
    public static Task<StoragePool> CreateAsync(TempDirectory dir, PoolLayout layout = PoolLayout.Striped, int vdevs = 1, long vdevBytes = 8L << 20, string name = "p") =>
        StoragePool.CreateAsync(new PoolCreateOptions
        {
            Name = name,
            Layout = layout,
            ChunkSize = 16 * 1024,
            MetadataBytes = 256 * 1024,
            Vdevs = Enumerable.Range(0, vdevs).Select(i => new VdevSpec(dir.File($"{name}{i}"), vdevBytes)).ToArray(),
        });

    public static string[] Paths(TempDirectory dir, int vdevs, string name = "p") => Enumerable.Range(0, vdevs).Select(i => dir.File($"{name}{i}")).ToArray();

    public static byte[] Pattern(int bytes, int seed)
    {
        var data = new byte[bytes];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Writes <paramref name="bytes"/> of pattern <paramref name="seed"/> at LBA 0 of a new volume and flushes.</summary>
    public static async Task<byte[]> WriteVolumeAsync(StoragePool pool, string volume, int bytes, int seed)
    {
        await pool.CreateVolumeAsync(volume, bytes);
        var data = Pattern(bytes, seed);
        var v = pool.OpenVolume(volume);
        await using (v)
        {
            await v.WriteAsync(0, data, WriteFlags.None);
            await v.FlushAsync();
        }

        return data;
    }

    public static async Task<byte[]> ReadVolumeAsync(StoragePool pool, string volume)
    {
        var v = pool.OpenVolume(volume);
        await using (v)
        {
            var data = new byte[v.BlockCount * v.BlockSize];
            await v.ReadAsync(0, data);
            return data;
        }
    }
}

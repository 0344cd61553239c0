namespace Strata.Pool;

/// <summary>One vdev of a new pool: a sparse file created with <see cref="SizeBytes"/>, or a block device (size null).</summary>
public sealed record VdevSpec(string Path, long? SizeBytes = null);

/// <summary>What <see cref="StoragePool.CreateAsync"/> makes.</summary>
public sealed record PoolCreateOptions
{
    public required string Name { get; init; }

    public PoolLayout Layout { get; init; } = PoolLayout.Striped;

    public required IReadOnlyList<VdevSpec> Vdevs { get; init; }

    /// <summary>The allocation unit, fixed for the pool's life (dm-thin's data block size). A power of two, 4 KiB to 1 MiB.</summary>
    public int ChunkSize { get; init; } = 64 * 1024;

    /// <summary>
    /// Bytes of metadata log on each vdev. Null: 512 bytes per data chunk of the vdevs (0.8% at 64 KiB chunks), at
    /// least 8 MiB. A quarter of it bounds the checkpoint, 8 bytes per mapping: about 16 mappings per chunk.
    /// </summary>
    public long? MetadataBytes { get; init; }

    /// <summary>The most logical bytes all volumes together may have; null means no limit (any overcommit).</summary>
    public long? OvercommitLimitBytes { get; init; }
}

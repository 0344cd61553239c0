namespace Strata.Blocks;

/// <summary>
/// A device of fixed-size logical blocks: the one contract every layer below the iSCSI target speaks.
/// </summary>
/// <remarks>
/// Semantics (checked by the shared contract suite, <c>tests/Strata.Blocks.Contract</c>):
/// calls may run concurrently; a completed write is seen by every later read; a completed write is
/// durable once a later <see cref="FlushAsync"/> has completed, or at once with <see cref="WriteFlags.Fua"/>
/// (SCSI's volatile write cache model); unmapped or never-written blocks read as zeros; failures are
/// <see cref="BlockDeviceException"/> with a <see cref="BlockDeviceErrorKind"/>.
/// </remarks>
public interface IBlockDevice : IAsyncDisposable
{
    /// <summary>Bytes per logical block (512 or 4096).</summary>
    int BlockSize { get; }

    long BlockCount { get; }

    /// <summary>Reads <c>buffer.Length / BlockSize</c> blocks starting at <paramref name="lba"/>.</summary>
    ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default);

    /// <summary>Writes <c>data.Length / BlockSize</c> blocks starting at <paramref name="lba"/>.</summary>
    ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default);

    /// <summary>Makes every write completed before this call durable.</summary>
    ValueTask FlushAsync(CancellationToken ct = default);

    /// <summary>Deallocates blocks; they read as zeros afterwards.</summary>
    ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default);
}

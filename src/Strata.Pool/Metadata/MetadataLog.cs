using System.Buffers.Binary;
using Strata.Blocks;
using Strata.Pool.OnDisk;
using Strata.Pool.Vdevs;

namespace Strata.Pool.Metadata;

public enum BatchKind : byte
{
    /// <summary>Records to apply to the state the previous batches left.</summary>
    Delta = 1,

    /// <summary>The whole state (replaces what came before).</summary>
    Checkpoint = 2,
}

/// <summary>
/// The metadata log: a ring on every vdev, written in batches at a growing log sequence number (LSN, the byte
/// position counted from pool creation; the ring position is LSN mod ring size). A batch is a 64-byte header
/// (magic, kind, its own LSN, payload length, CRC32C of header and payload) and its payload, padded to 4 KiB so
/// a later batch never rewrites a durable block. Replay starts at the checkpoint the superblock names and stops
/// at the first batch that is torn (bad CRC) or stale (an LSN from an earlier lap).
/// </summary>
internal sealed class MetadataLog
{
    public const int HeaderBytes = 64;
    private const uint Magic = 0x474F4C53; // "SLOG"

    private readonly ChunkStore _store;
    private readonly Guid _poolId;

    public MetadataLog(ChunkStore store, Guid poolId, long ringBytes, ulong head)
    {
        _store = store;
        _poolId = poolId;
        RingBytes = ringBytes;
        Head = head;
    }

    public long RingBytes { get; }

    /// <summary>The LSN the next batch goes to.</summary>
    public ulong Head { get; private set; }

    public static int BatchBytes(long payloadBytes) => (int)DiskLayout.AlignUp(HeaderBytes + payloadBytes, DiskLayout.MetadataBlock);

    /// <summary>Starts a batch in <paramref name="w"/>: a header to fill by <see cref="WriteAsync"/>, then the payload.</summary>
    public static void BeginBatch(MetadataWriter w)
    {
        w.Reset();
        w.Take(HeaderBytes).Clear();
    }

    /// <summary>
    /// Seals the batch begun in <paramref name="w"/> and writes it at <see cref="Head"/> on every online vdev
    /// (not yet durable: the caller syncs). Returns its LSN.
    /// </summary>
    public async ValueTask<ulong> WriteAsync(MetadataWriter w, BatchKind kind)
    {
        int payload = w.Length - HeaderBytes;
        ulong lsn = Head;
        var h = w.Buffer.AsSpan(0, HeaderBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(h, Magic);
        h[4] = (byte)kind;
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], lsn);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], (uint)payload);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 0);
        _poolId.TryWriteBytes(h[24..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], Crc32C.Compute(w.Written));
        w.PadTo(DiskLayout.MetadataBlock);
        var bytes = w.Buffer.AsMemory(0, w.Length);

        long pos = (long)(lsn % (ulong)RingBytes);
        long first = Math.Min(bytes.Length, RingBytes - pos);
        await _store.WriteMetadataAsync(DiskLayout.RingOffset + pos, bytes[..(int)first]).ConfigureAwait(false);
        if (first < bytes.Length)
        {
            await _store.WriteMetadataAsync(DiskLayout.RingOffset, bytes[(int)first..]).ConfigureAwait(false);
        }

        Head = lsn + (ulong)bytes.Length;
        return lsn;
    }

    /// <summary>
    /// The batch at <paramref name="lsn"/> on <paramref name="vdev"/>, or null when there is none (never written,
    /// torn, from an earlier lap, or of another pool).
    /// </summary>
    public static async ValueTask<(BatchKind Kind, byte[] Payload, int Bytes)?> ReadAsync(Vdev vdev, Guid poolId, long ringBytes, ulong lsn)
    {
        var header = new byte[DiskLayout.MetadataBlock];
        await ReadRingAsync(vdev, ringBytes, lsn, header).ConfigureAwait(false);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic
            || BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8)) != lsn
            || new Guid(header.AsSpan(24, 16)) != poolId)
        {
            return null;
        }

        long payload = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(16));
        if (payload > ringBytes / 2)
        {
            return null;
        }

        int total = BatchBytes(payload);
        var batch = new byte[total];
        header.AsSpan(0, Math.Min(total, header.Length)).CopyTo(batch);
        if (total > header.Length)
        {
            await ReadRingAsync(vdev, ringBytes, lsn + (ulong)header.Length, batch.AsMemory(header.Length)).ConfigureAwait(false);
        }

        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(batch.AsSpan(20));
        BinaryPrimitives.WriteUInt32LittleEndian(batch.AsSpan(20), 0);
        if (Crc32C.Compute(batch.AsSpan(0, HeaderBytes + (int)payload)) != crc)
        {
            return null;
        }

        return ((BatchKind)batch[4], batch.AsSpan(HeaderBytes, (int)payload).ToArray(), total);
    }

    private static async ValueTask ReadRingAsync(Vdev vdev, long ringBytes, ulong lsn, Memory<byte> buffer)
    {
        long pos = (long)(lsn % (ulong)ringBytes);
        long first = Math.Min(buffer.Length, ringBytes - pos);
        await vdev.Device!.ReadAsync(Vdev.Lba(DiskLayout.RingOffset + pos), buffer[..(int)first]).ConfigureAwait(false);
        if (first < buffer.Length)
        {
            await vdev.Device!.ReadAsync(Vdev.Lba(DiskLayout.RingOffset), buffer[(int)first..]).ConfigureAwait(false);
        }
    }
}

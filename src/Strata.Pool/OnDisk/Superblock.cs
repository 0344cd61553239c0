namespace Strata.Pool.OnDisk;

/// <summary>
/// The root of the pool's committed state: where the newest checkpoint is in the log ring, whether the pool
/// was closed cleanly, and which vdevs are faulted. Written to two slots alternately (slot = Sequence % 2), so
/// a torn write only ever destroys the older copy; the valid one with the highest sequence wins.
/// </summary>
/// <remarks>
/// The log is never reclaimed past the checkpoint of the older slot, so when the newest superblock is lost the
/// older one still leads, through the log, to the newest committed state.
/// </remarks>
internal sealed record Superblock(Guid PoolId, ulong Sequence, ulong CheckpointLsn, bool Clean, IReadOnlyList<VdevSlot> Vdevs)
{
    private const ulong Magic = 0x4B_4C_42_52_50_55_53_53; // "SSUPRBLK"
    private const uint Version = 1;

    public long SlotOffset => Sequence % 2 == 0 ? DiskLayout.SuperblockOffset0 : DiskLayout.SuperblockOffset1;

    public byte[] Encode()
    {
        var w = new MetadataWriter();
        w.U64(Magic);
        w.U32(Version);
        w.U32(0);
        w.Bytes(PoolId.ToByteArray());
        w.U64(Sequence);
        w.U64(CheckpointLsn);
        w.U8(Clean ? (byte)1 : (byte)0);
        w.U16((ushort)Vdevs.Count);
        foreach (var v in Vdevs)
        {
            w.U8((byte)v.State);
            w.U32(v.Generation);
        }

        return ChecksummedBlock.Seal(w);
    }

    public static Superblock? TryDecode(ReadOnlySpan<byte> block)
    {
        if (ChecksummedBlock.Open(block, Magic) is not { } fields)
        {
            return null;
        }

        try
        {
            var r = new MetadataReader(fields);
            var poolId = new Guid(r.Take(16));
            ulong seq = r.U64();
            ulong cp = r.U64();
            bool clean = r.U8() == 1;
            int n = r.U16();
            var vdevs = new VdevSlot[n];
            for (int i = 0; i < n; i++)
            {
                vdevs[i] = new VdevSlot((VdevState)r.U8(), r.U32());
            }

            return new Superblock(poolId, seq, cp, clean, vdevs);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>What the superblock says of the vdev at one index: its state and the generation that holds the index.</summary>
internal readonly record struct VdevSlot(VdevState State, uint Generation);

using System.Buffers.Binary;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

/// <summary>A target device with one in-memory LU at LUN 0, and helpers that run hand-built CDBs through
/// <see cref="ScsiTargetDevice.ExecuteAsync"/> as the transport would.</summary>
internal sealed class ScsiTestTarget
{
    public static readonly ItNexus Initiator1 = new("iqn.2026-11.test:one", 0x23D000000001, "iqn.2026-11.io.strata:vol", 1);
    public static readonly ItNexus Initiator2 = new("iqn.2026-11.test:two", 0x23D000000002, "iqn.2026-11.io.strata:vol", 1);

    public ScsiTestTarget(long blocks = 4096, string volume = "vol-a", bool thin = true)
    {
        Device = new MemoryBlockDevice(blocks);
        Unit = new BlockLogicalUnit(Device, new LogicalUnitIdentity(volume, ThinProvisioned: thin));
        Target = new ScsiTargetDevice([(0UL, Unit)]);
    }

    public MemoryBlockDevice Device { get; }

    public BlockLogicalUnit Unit { get; }

    public ScsiTargetDevice Target { get; }

    /// <summary>Runs one command; clears the first unit attention of the nexus first unless told not to.</summary>
    public async Task<ScsiTask> RunAsync(byte[] cdb, byte[]? dataOut = null, int dataIn = 0, ItNexus? nexus = null, ulong lun = 0)
    {
        var task = new ScsiTask();
        task.Reset();
        task.Nexus = nexus ?? Initiator1;
        task.Lun = lun;
        task.SetCdb(cdb);
        task.DataOut = dataOut ?? default;
        task.WriteExpected = dataOut is not null;
        task.ReadExpected = dataIn > 0;
        task.DataIn = new byte[dataIn];
        task.ExpectedDataTransferLength = dataOut?.Length ?? dataIn;
        await Target.ExecuteAsync(task);
        return task;
    }

    /// <summary>Consumes the POWER ON unit attention every new nexus starts with.</summary>
    public async Task ClearAttentionAsync(ItNexus? nexus = null)
    {
        for (int i = 0; i < 8; i++)
        {
            var task = await RunAsync(Cdb.TestUnitReady(), nexus: nexus);
            if (task.Status != ScsiStatus.CheckCondition || SenseOf(task).Key != SenseKey.UnitAttention)
            {
                return;
            }
        }
    }

    public static (SenseKey Key, byte Asc, byte Ascq) SenseOf(ScsiTask task)
    {
        var s = task.Sense.Span;
        return s[0] is 0x72 or 0x73 ? ((SenseKey)(s[1] & 0x0F), s[2], s[3]) : ((SenseKey)(s[2] & 0x0F), s[12], s[13]);
    }

    public static void AssertSense(ScsiTask task, SenseKey key, byte asc, byte ascq)
    {
        Assert.Equal(ScsiStatus.CheckCondition, task.Status);
        Assert.Equal((key, asc, ascq), SenseOf(task));
    }

    /// <summary>The sense-key-specific field pointer of fixed-format sense: (SKSV, C/D, byte, bit or -1).</summary>
    public static (bool Sksv, bool InCdb, int Byte, int Bit) FieldPointerOf(ScsiTask task)
    {
        var s = task.Sense.Span;
        bool bpv = (s[15] & 0x08) != 0;
        return ((s[15] & 0x80) != 0, (s[15] & 0x40) != 0, BinaryPrimitives.ReadUInt16BigEndian(s[16..]), bpv ? s[15] & 0x07 : -1);
    }
}

/// <summary>Hand-built CDBs.</summary>
internal static class Cdb
{
    public static byte[] TestUnitReady() => new byte[6];

    public static byte[] Inquiry(bool evpd = false, byte page = 0, ushort allocation = 255) =>
        [0x12, (byte)(evpd ? 1 : 0), page, (byte)(allocation >> 8), (byte)allocation, 0];

    public static byte[] Read6(uint lba, byte blocks) => [0x08, (byte)(lba >> 16), (byte)(lba >> 8), (byte)lba, blocks, 0];

    public static byte[] Read10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x28, lba, blocks, flags);

    public static byte[] Write10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x2A, lba, blocks, flags);

    public static byte[] Verify10(uint lba, ushort blocks, int bytchk) => Rw10(0x2F, lba, blocks, (byte)(bytchk << 1));

    public static byte[] Read16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x88, lba, blocks, flags);

    public static byte[] Write16(ulong lba, uint blocks, byte flags = 0) => Rw16(0x8A, lba, blocks, flags);

    public static byte[] WriteSame16(ulong lba, uint blocks, bool unmap) => Rw16(0x93, lba, blocks, (byte)(unmap ? 0x08 : 0));

    public static byte[] CompareAndWrite(ulong lba, byte blocks)
    {
        var cdb = Rw16(0x89, lba, 0, 0);
        cdb[13] = blocks;
        return cdb;
    }

    public static byte[] ReadCapacity16(uint allocation = 32)
    {
        var cdb = new byte[16];
        cdb[0] = 0x9E;
        cdb[1] = 0x10;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), allocation);
        return cdb;
    }

    public static byte[] GetLbaStatus(ulong lba, uint allocation = 64)
    {
        var cdb = Rw16(0x9E, lba, allocation, 0);
        cdb[1] = 0x12;
        return cdb;
    }

    public static byte[] Unmap(ushort listLength) => [0x42, 0, 0, 0, 0, 0, 0, (byte)(listLength >> 8), (byte)listLength, 0];

    public static byte[] UnmapList(params (ulong Lba, uint Blocks)[] ranges)
    {
        var list = new byte[8 + (16 * ranges.Length)];
        BinaryPrimitives.WriteUInt16BigEndian(list, (ushort)(list.Length - 2));
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), (ushort)(16 * ranges.Length));
        for (int i = 0; i < ranges.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8 + (16 * i)), ranges[i].Lba);
            BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(16 + (16 * i)), ranges[i].Blocks);
        }

        return list;
    }

    public static byte[] ModeSense6(byte page, int pageControl = 0, byte allocation = 255, bool dbd = true) =>
        [0x1A, (byte)(dbd ? 0x08 : 0), (byte)((pageControl << 6) | page), 0, allocation, 0];

    public static byte[] ModeSelect6(byte length) => [0x15, 0x10, 0, 0, length, 0];

    public static byte[] ReportLuns(uint allocation = 256)
    {
        var cdb = new byte[12];
        cdb[0] = 0xA0;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(6), allocation);
        return cdb;
    }

    public static byte[] ReportSupportedOpcodes(int options, byte opcode = 0, ushort serviceAction = 0, uint allocation = 4096)
    {
        var cdb = new byte[12];
        cdb[0] = 0xA3;
        cdb[1] = 0x0C;
        cdb[2] = (byte)options;
        cdb[3] = opcode;
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(4), serviceAction);
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(6), allocation);
        return cdb;
    }

    public static byte[] PersistentReserveIn(int serviceAction, ushort allocation = 1024) =>
        [0x5E, (byte)serviceAction, 0, 0, 0, 0, 0, (byte)(allocation >> 8), (byte)allocation, 0];

    public static byte[] PersistentReserveOut(int serviceAction, int type = 0) =>
        [0x5F, (byte)serviceAction, (byte)type, 0, 0, 0, 0, 0, 24, 0];

    public static byte[] PrParameters(ulong key, ulong serviceKey)
    {
        var p = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(p, key);
        BinaryPrimitives.WriteUInt64BigEndian(p.AsSpan(8), serviceKey);
        return p;
    }

    public static byte[] Reserve6() => [0x16, 0, 0, 0, 0, 0];

    public static byte[] Release6() => [0x17, 0, 0, 0, 0, 0];

    public static byte[] ExtendedCopy(uint listLength)
    {
        var cdb = new byte[16];
        cdb[0] = 0x83;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), listLength);
        return cdb;
    }

    private static byte[] Rw10(byte opcode, uint lba, ushort blocks, byte flags)
    {
        var cdb = new byte[10];
        cdb[0] = opcode;
        cdb[1] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), blocks);
        return cdb;
    }

    private static byte[] Rw16(byte opcode, ulong lba, uint blocks, byte flags)
    {
        var cdb = new byte[16];
        cdb[0] = opcode;
        cdb[1] = flags;
        BinaryPrimitives.WriteUInt64BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), blocks);
        return cdb;
    }
}

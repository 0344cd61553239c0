using System.Buffers.Binary;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class ExtendedCopyTests
{
    /// <summary>An EXTENDED COPY (LID1) parameter list: CSCDs by NAA designator, one block-to-block segment.</summary>
    private static byte[] CopyList(byte[] sourceNaa, byte[] destinationNaa, ushort blocks, ulong from, ulong to, byte listId = 1, int usage = 0)
    {
        var list = new byte[16 + 64 + 28];
        list[0] = listId;
        list[1] = (byte)(usage << 3);
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), 64);
        BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(8), 28);
        Cscd(list.AsSpan(16), sourceNaa);
        Cscd(list.AsSpan(48), destinationNaa);
        var s = list.AsSpan(80);
        s[0] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(s[2..], 0x18);
        BinaryPrimitives.WriteUInt16BigEndian(s[4..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(s[6..], 1);
        BinaryPrimitives.WriteUInt16BigEndian(s[10..], blocks);
        BinaryPrimitives.WriteUInt64BigEndian(s[12..], from);
        BinaryPrimitives.WriteUInt64BigEndian(s[20..], to);
        return list;
    }

    private static void Cscd(Span<byte> d, byte[] naa)
    {
        d[0] = 0xE4;
        d[4] = 0x01;        // binary
        d[5] = 0x03;        // LU association, NAA
        d[7] = (byte)naa.Length;
        naa.CopyTo(d[8..]);
        d[30] = 0x02;       // block length 512
    }

    private static byte[] NaaOf(string volume) => new LogicalUnitIdentity(volume).NaaDesignator;

    [Fact]
    public async Task Copies_between_logical_units_of_the_same_target_and_holds_the_status()
    {
        var t = new ScsiTestTarget(volume: "vol-a");
        var other = new MemoryBlockDevice(4096);
        t.Target.Add(1, new BlockLogicalUnit(other, new LogicalUnitIdentity("vol-b")));
        await t.ClearAttentionAsync();
        var data = new byte[8 * 512];
        Random.Shared.NextBytes(data);
        await t.RunAsync(Cdb.Write10(16, 8), data);

        var list = CopyList(NaaOf("vol-a"), NaaOf("vol-b"), 8, 16, 100);
        var copy = await t.RunAsync(Cdb.ExtendedCopy((uint)list.Length), list);
        Assert.Equal(ScsiStatus.Good, copy.Status);
        Assert.Equal(data, other.Raw(100, 8).ToArray());

        var status = await t.RunAsync([0x84, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], dataIn: 256);
        Assert.Equal(ScsiStatus.Good, status.Status);
        Assert.Equal(0x01, status.DataIn.Span[4]); // completed, good
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(status.DataIn.Span[5..]));
    }

    [Fact]
    public async Task Refuses_a_designator_of_a_logical_unit_this_target_does_not_serve()
    {
        // CVE-2020-28374: a CSCD naming a volume of another target must not be reachable.
        var t = new ScsiTestTarget(volume: "vol-a");
        var elsewhere = new ScsiTestTarget(volume: "vol-secret");
        elsewhere.Device.Raw(0, 8).Fill(0x77);
        await t.ClearAttentionAsync();

        var list = CopyList(NaaOf("vol-secret"), NaaOf("vol-a"), 8, 0, 0);
        var copy = await t.RunAsync(Cdb.ExtendedCopy((uint)list.Length), list);
        ScsiTestTarget.AssertSense(copy, SenseKey.CopyAborted, 0x0D, 0x02);
        Assert.True(t.Device.Raw(0, 8).IndexOfAnyExcept((byte)0) < 0);

        list = CopyList(NaaOf("vol-a"), NaaOf("vol-secret"), 8, 0, 0);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.ExtendedCopy((uint)list.Length), list), SenseKey.CopyAborted, 0x0D, 0x02);
        Assert.True(elsewhere.Device.Raw(0, 8).IndexOfAnyExcept((byte)0x77) < 0);
    }

    [Fact]
    public async Task Validates_the_parameter_list()
    {
        var t = new ScsiTestTarget(volume: "vol-a");
        await t.ClearAttentionAsync();
        var list = CopyList(NaaOf("vol-a"), NaaOf("vol-a"), 8, 0, 4095);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.ExtendedCopy((uint)list.Length), list), SenseKey.CopyAborted, 0x00, 0x00);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.ExtendedCopy(40), list[..40]), SenseKey.IllegalRequest, 0x1A, 0x00);
        list = CopyList(NaaOf("vol-a"), NaaOf("vol-a"), 8, 0, 8);
        list[16] = 0xE0; // Fibre Channel N_Port_Name CSCD
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.ExtendedCopy((uint)list.Length), list), SenseKey.IllegalRequest, 0x26, 0x07);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.ExtendedCopy(0))).Status);
    }
}

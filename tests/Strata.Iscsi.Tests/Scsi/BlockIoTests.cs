using System.Buffers.Binary;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class BlockIoTests
{
    [Fact]
    public async Task Write10_then_read16_returns_the_data_and_transfer_lengths()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var data = new byte[4 * 512];
        Random.Shared.NextBytes(data);
        var write = await t.RunAsync(Cdb.Write10(10, 4), data);
        Assert.Equal(ScsiStatus.Good, write.Status);
        Assert.Equal(data.Length, write.TransferLength);

        var read = await t.RunAsync(Cdb.Read16(10, 4), dataIn: data.Length);
        Assert.Equal(ScsiStatus.Good, read.Status);
        Assert.Equal(data.Length, read.TransferLength);
        Assert.Equal(data, read.DataIn.ToArray());
    }

    [Fact]
    public async Task Fua_becomes_a_write_through_device_write()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 1, flags: 0x08), new byte[512]);
        Assert.Equal(1, t.Device.FuaWrites);
        await t.RunAsync(Cdb.Write10(0, 1, flags: 0x10), new byte[512]); // DPO alone
        Assert.Equal(1, t.Device.FuaWrites);
    }

    [Fact]
    public async Task Read6_with_zero_length_reads_256_blocks()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var read = await t.RunAsync(Cdb.Read6(0, 0), dataIn: 256 * 512);
        Assert.Equal(ScsiStatus.Good, read.Status);
        Assert.Equal(256 * 512, read.TransferLength);
    }

    [Fact]
    public async Task Reading_less_than_the_command_asks_reports_the_full_transfer_length()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var read = await t.RunAsync(Cdb.Read10(0, 2), dataIn: 512);
        Assert.Equal(ScsiStatus.Good, read.Status);
        Assert.Equal(1024, read.TransferLength); // the transport reports an overflow residual
    }

    [Fact]
    public async Task Writing_with_less_data_than_the_cdb_names_writes_the_whole_blocks_that_came()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 2), Enumerable.Repeat((byte)'a', 1024).ToArray());
        var short1 = await t.RunAsync(Cdb.Write10(0, 2), Enumerable.Repeat((byte)'b', 512).ToArray());
        Assert.Equal(ScsiStatus.Good, short1.Status);
        Assert.Equal(1024, short1.TransferLength); // the transport reports 512 bytes of overflow
        Assert.True(t.Device.Raw(0, 1).IndexOfAnyExcept((byte)'b') < 0);
        Assert.True(t.Device.Raw(1, 1).IndexOfAnyExcept((byte)'a') < 0);

        var none = await t.RunAsync(Cdb.Write10(1, 1), new byte[200]);
        Assert.Equal(ScsiStatus.Good, none.Status);
        Assert.True(t.Device.Raw(1, 1).IndexOfAnyExcept((byte)'a') < 0);
    }

    [Theory]
    [InlineData(4095u, (ushort)2)]
    [InlineData(4096u, (ushort)1)]
    [InlineData(uint.MaxValue, (ushort)1)]
    public async Task Beyond_the_end_is_lba_out_of_range(uint lba, ushort blocks)
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.Read10(lba, blocks), dataIn: blocks * 512), SenseKey.IllegalRequest, 0x21, 0x00);
    }

    [Fact]
    public async Task Rdprotect_is_an_invalid_field_pointing_at_byte_1_bit_7()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var task = await t.RunAsync(Cdb.Read10(0, 1, flags: 0xA0), dataIn: 512);
        ScsiTestTarget.AssertSense(task, SenseKey.IllegalRequest, 0x24, 0x00);
        Assert.Equal((true, true, 1, 7), ScsiTestTarget.FieldPointerOf(task));
    }

    [Fact]
    public async Task Verify_bytchk_1_reports_the_miscompare_offset()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var data = Enumerable.Repeat((byte)'A', 1024).ToArray();
        await t.RunAsync(Cdb.Write10(0, 2), data);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Verify10(0, 2, 1), data)).Status);
        data[700] = (byte)'C';
        var task = await t.RunAsync(Cdb.Verify10(0, 2, 1), data);
        ScsiTestTarget.AssertSense(task, SenseKey.Miscompare, 0x1D, 0x00);
        Assert.Equal(700u, BinaryPrimitives.ReadUInt32BigEndian(task.Sense.Span[3..]));
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Verify10(0, 2, 0))).Status); // BYTCHK 0: no compare
    }

    [Fact]
    public async Task Unmap_deallocates_and_get_lba_status_reports_it()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 16), Enumerable.Repeat((byte)0xFF, 16 * 512).ToArray());
        var list = Cdb.UnmapList((4, 4));
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Unmap((ushort)list.Length), list)).Status);
        Assert.True(t.Device.Raw(4, 4).IndexOfAnyExcept((byte)0) < 0);

        var status = await t.RunAsync(Cdb.GetLbaStatus(0, 64), dataIn: 64);
        Assert.Equal(ScsiStatus.Good, status.Status);
        var d = status.DataIn.Span;
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(d[8..]));
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32BigEndian(d[16..]));
        Assert.Equal(0, d[20]); // mapped
        Assert.Equal(4UL, BinaryPrimitives.ReadUInt64BigEndian(d[24..]));
        Assert.Equal(1, d[36]); // deallocated
    }

    [Theory]
    [InlineData(16, 64)] // allocation length below one descriptor: the header and half of it
    [InlineData(64, 12)] // a data-in buffer shorter than the allocation length: what fits
    public async Task Get_lba_status_is_cut_to_the_allocation_length_and_the_buffer(int allocation, int buffer)
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 4), new byte[4 * 512]);
        var full = await t.RunAsync(Cdb.GetLbaStatus(0, 64), dataIn: 64);
        var cut = await t.RunAsync(Cdb.GetLbaStatus(0, (uint)allocation), dataIn: buffer);
        Assert.Equal(ScsiStatus.Good, cut.Status);
        int expected = Math.Min(allocation, full.TransferLength);
        Assert.Equal(expected, cut.TransferLength);
        int shown = Math.Min(expected, buffer);
        if (allocation >= 24)
        {
            Assert.Equal(full.DataIn.Span[..shown].ToArray(), cut.DataIn.Span[..shown].ToArray());
        }
        else
        {
            // One descriptor (the least it returns): PARAMETER DATA LENGTH 20, then its first bytes.
            Assert.Equal(20u, BinaryPrimitives.ReadUInt32BigEndian(cut.DataIn.Span));
            Assert.Equal(full.DataIn.Span[8..shown].ToArray(), cut.DataIn.Span[8..shown].ToArray());
        }
    }

    [Fact]
    public async Task Unmap_validates_the_whole_list_before_deallocating()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 1), Enumerable.Repeat((byte)1, 512).ToArray());
        var list = Cdb.UnmapList((0, 1), (4096, 1));
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.Unmap((ushort)list.Length), list), SenseKey.IllegalRequest, 0x21, 0x00);
        Assert.True(t.Device.IsMapped(0));
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.Unmap(4), new byte[4]), SenseKey.IllegalRequest, 0x1A, 0x00);
    }

    [Fact]
    public async Task Write_same_with_unmap_and_zeros_deallocates_and_with_data_writes()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var pattern = Enumerable.Repeat((byte)0x5A, 512).ToArray();
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.WriteSame16(100, 8, unmap: false), pattern)).Status);
        Assert.True(t.Device.Raw(100, 8).IndexOfAnyExcept((byte)0x5A) < 0);

        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.WriteSame16(100, 8, unmap: true), new byte[512])).Status);
        Assert.False(t.Device.IsMapped(100));
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.WriteSame16(0, 1, unmap: false), new byte[256]), SenseKey.IllegalRequest, 0x24, 0x00);
    }

    [Fact]
    public async Task Read_capacity_16_reports_thin_provisioning()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var task = await t.RunAsync(Cdb.ReadCapacity16(), dataIn: 32);
        var d = task.DataIn.Span;
        Assert.Equal(4095UL, BinaryPrimitives.ReadUInt64BigEndian(d));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(d[8..]));
        Assert.Equal(0xC0, d[14] & 0xC0);
    }
}

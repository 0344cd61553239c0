using System.Buffers.Binary;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class MiscCommandTests
{
    [Fact]
    public async Task Request_sense_reports_and_clears_the_unit_attention_then_no_sense()
    {
        var t = new ScsiTestTarget();
        var first = await t.RunAsync([0x03, 0, 0, 0, 252, 0], dataIn: 252);
        Assert.Equal(ScsiStatus.Good, first.Status);
        Assert.Equal(18, first.TransferLength);
        Assert.Equal((0x06, 0x29, 0x00), (first.DataIn.Span[2] & 0x0F, first.DataIn.Span[12], first.DataIn.Span[13]));
        var second = await t.RunAsync([0x03, 0x01, 0, 0, 252, 0], dataIn: 252); // DESC: descriptor format
        Assert.Equal(0x72, second.DataIn.Span[0]);
        Assert.Equal(0, second.DataIn.Span[1] & 0x0F);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.TestUnitReady())).Status);
    }

    [Fact]
    public async Task Synchronize_cache_flushes_the_device_and_checks_its_range()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])).Status);
        Assert.Equal(1, t.Device.Flushes);
        ScsiTestTarget.AssertSense(await t.RunAsync([0x35, 0, 0, 0, 0x10, 0, 0, 0, 1, 0]), SenseKey.IllegalRequest, 0x21, 0x00);
    }

    [Fact]
    public async Task Orwrite_ors_the_data_into_the_blocks()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(3, 1), Enumerable.Repeat((byte)0x0F, 512).ToArray());
        var cdb = Cdb.Write16(3, 1);
        cdb[0] = 0x8B;
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(cdb, Enumerable.Repeat((byte)0xF0, 512).ToArray())).Status);
        Assert.True(t.Device.Raw(3, 1).IndexOfAnyExcept((byte)0xFF) < 0);
    }

    [Fact]
    public async Task Write_atomic_writes_and_refuses_an_atomic_boundary()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var cdb = new byte[16];
        cdb[0] = 0x9C;
        BinaryPrimitives.WriteUInt64BigEndian(cdb.AsSpan(2), 9);
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(12), 2);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(cdb, Enumerable.Repeat((byte)7, 1024).ToArray())).Status);
        Assert.True(t.Device.Raw(9, 2).IndexOfAnyExcept((byte)7) < 0);
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(10), 4);
        var refused = await t.RunAsync(cdb, new byte[1024]);
        ScsiTestTarget.AssertSense(refused, SenseKey.IllegalRequest, 0x24, 0x00);
        Assert.Equal(10, ScsiTestTarget.FieldPointerOf(refused).Byte);
    }

    [Fact]
    public async Task Prevent_allow_blocks_eject_until_allowed()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync([0x1E, 0, 0, 0, 1, 0])).Status);
        ScsiTestTarget.AssertSense(await t.RunAsync([0x1B, 0, 0, 0, 0x02, 0]), SenseKey.IllegalRequest, 0x53, 0x02);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync([0x1E, 0, 0, 0, 0, 0])).Status);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync([0x1B, 0, 0, 0, 0x02, 0])).Status);
    }

    [Fact]
    public async Task Sanitize_block_erase_deallocates_everything_and_refuses_a_parameter_list()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 8), Enumerable.Repeat((byte)1, 8 * 512).ToArray());
        ScsiTestTarget.AssertSense(await t.RunAsync([0x48, 0x02, 0, 0, 0, 0, 0, 0, 8, 0], new byte[8]), SenseKey.IllegalRequest, 0x24, 0x00);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync([0x48, 0x02, 0, 0, 0, 0, 0, 0, 0, 0])).Status);
        Assert.False(t.Device.IsMapped(0));
        ScsiTestTarget.AssertSense(await t.RunAsync([0x48, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]), SenseKey.IllegalRequest, 0x24, 0x00);
    }

    [Fact]
    public async Task Read_defect_data_is_an_empty_list()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var task = await t.RunAsync([0x37, 0, 0x18, 0, 0, 0, 0, 0, 255, 0], dataIn: 255);
        Assert.Equal(ScsiStatus.Good, task.Status);
        Assert.Equal(4, task.TransferLength);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(task.DataIn.Span[2..]));
    }

    [Fact]
    public async Task Report_target_port_groups_names_the_port_the_command_came_through()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var task = await t.RunAsync([0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], dataIn: 256);
        Assert.Equal(ScsiStatus.Good, task.Status);
        var d = task.DataIn.Span;
        Assert.Equal(0x00, d[4] & 0x0F); // active/optimized
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(d[14..]));
    }
}

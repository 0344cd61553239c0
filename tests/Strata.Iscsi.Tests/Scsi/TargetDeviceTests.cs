using Strata.Blocks;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class TargetDeviceTests
{
    [Fact]
    public async Task New_nexus_sees_power_on_unit_attention_once_but_not_on_inquiry()
    {
        var t = new ScsiTestTarget();
        var inquiry = await t.RunAsync(Cdb.Inquiry(), dataIn: 96);
        Assert.Equal(ScsiStatus.Good, inquiry.Status);

        var first = await t.RunAsync(Cdb.TestUnitReady());
        ScsiTestTarget.AssertSense(first, SenseKey.UnitAttention, 0x29, 0x00);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.TestUnitReady())).Status);
    }

    [Fact]
    public async Task Missing_lun_reports_qualifier_011b_on_inquiry_and_not_supported_otherwise()
    {
        var t = new ScsiTestTarget();
        var inquiry = await t.RunAsync(Cdb.Inquiry(), dataIn: 36, lun: 5);
        Assert.Equal(ScsiStatus.Good, inquiry.Status);
        Assert.Equal(0x7F, inquiry.DataIn.Span[0]);

        var tur = await t.RunAsync(Cdb.TestUnitReady(), lun: 5);
        ScsiTestTarget.AssertSense(tur, SenseKey.IllegalRequest, 0x25, 0x00);
    }

    [Fact]
    public async Task Report_luns_answers_on_any_lun_and_lists_every_unit()
    {
        var t = new ScsiTestTarget();
        t.Target.Add(3, new BlockLogicalUnit(new MemoryBlockDevice(64), new LogicalUnitIdentity("vol-b")));
        var task = await t.RunAsync(Cdb.ReportLuns(), dataIn: 256, lun: 9);
        Assert.Equal(ScsiStatus.Good, task.Status);
        Assert.Equal(24, task.TransferLength);
        var d = task.DataIn.Span;
        Assert.Equal(16, d[3]);
        Assert.Equal(0, d[9]);
        Assert.Equal(3, d[17]);
    }

    [Fact]
    public async Task Adding_a_lun_makes_other_lus_report_luns_data_changed()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        t.Target.Add(1, new BlockLogicalUnit(new MemoryBlockDevice(64), new LogicalUnitIdentity("vol-b")));
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.TestUnitReady()), SenseKey.UnitAttention, 0x3F, 0x0E);
    }

    [Fact]
    public async Task Logical_unit_reset_releases_reserve_and_raises_unit_attention_for_every_nexus()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync(ScsiTestTarget.Initiator1);
        await t.ClearAttentionAsync(ScsiTestTarget.Initiator2);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Reserve6())).Status);
        t.Target.LogicalUnitReset(0, ScsiTestTarget.Initiator1);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.TestUnitReady(), nexus: ScsiTestTarget.Initiator2), SenseKey.UnitAttention, 0x29, 0x03);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Reserve6(), nexus: ScsiTestTarget.Initiator2)).Status);
    }

    [Theory]
    [InlineData(BlockDeviceErrorKind.NoSpace, SenseKey.DataProtect, 0x27, 0x07)]
    [InlineData(BlockDeviceErrorKind.Medium, SenseKey.MediumError, 0x0C, 0x00)]
    [InlineData(BlockDeviceErrorKind.Unavailable, SenseKey.NotReady, 0x04, 0x0A)]
    [InlineData(BlockDeviceErrorKind.Fenced, SenseKey.NotReady, 0x04, 0x0C)]
    [InlineData(BlockDeviceErrorKind.OutOfRange, SenseKey.IllegalRequest, 0x21, 0x00)]
    public async Task Device_failures_on_write_map_to_sense(BlockDeviceErrorKind kind, SenseKey key, byte asc, byte ascq)
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        t.Device.FailWith = kind;
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.Write10(0, 1), new byte[512]), key, asc, ascq);
    }

    [Fact]
    public async Task Medium_error_on_read_is_unrecovered_read_error()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        t.Device.FailWith = BlockDeviceErrorKind.Medium;
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.Read10(0, 1), dataIn: 512), SenseKey.MediumError, 0x11, 0x00);
    }

    [Fact]
    public async Task Aborted_task_ends_with_task_aborted()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        t.Device.Yield = true;
        var task = new ScsiTask();
        task.Reset();
        task.Nexus = ScsiTestTarget.Initiator1;
        task.SetCdb(Cdb.Read10(0, 1));
        task.DataIn = new byte[512];
        task.ExpectedDataTransferLength = 512;
        task.Abort();
        await t.Target.ExecuteAsync(task);
        Assert.Equal(ScsiStatus.TaskAborted, task.Status);
    }

    [Fact]
    public async Task Unknown_opcode_is_invalid_command_operation_code()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        ScsiTestTarget.AssertSense(await t.RunAsync([0xC7, 0, 0, 0, 0, 0]), SenseKey.IllegalRequest, 0x20, 0x00);
    }
}

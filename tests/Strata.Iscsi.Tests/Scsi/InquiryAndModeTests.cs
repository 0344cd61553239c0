using System.Buffers.Binary;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class InquiryAndModeTests
{
    [Fact]
    public async Task Standard_inquiry_names_the_device_and_claims_spc4_and_sbc3()
    {
        var t = new ScsiTestTarget();
        var task = await t.RunAsync(Cdb.Inquiry(allocation: 260), dataIn: 260);
        var d = task.DataIn.ToArray();
        Assert.Equal(task.TransferLength - 5, d[4]);
        Assert.Equal(0x00, d[0]);
        Assert.Equal(0x06, d[2]);
        Assert.Equal("STRATA  ", System.Text.Encoding.ASCII.GetString(d, 8, 8));
        var versions = Enumerable.Range(0, 8).Select(i => BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(58 + (2 * i)))).ToArray();
        Assert.Contains((ushort)0x0460, versions);
        Assert.Contains((ushort)0x04C0, versions);
    }

    [Fact]
    public async Task Page_code_without_evpd_is_an_invalid_field()
    {
        var t = new ScsiTestTarget();
        var task = await t.RunAsync(Cdb.Inquiry(evpd: false, page: 0x83), dataIn: 255);
        ScsiTestTarget.AssertSense(task, SenseKey.IllegalRequest, 0x24, 0x00);
        Assert.Equal((true, true, 2, -1), ScsiTestTarget.FieldPointerOf(task));
    }

    [Fact]
    public async Task Device_identification_naa_is_stable_per_volume()
    {
        static async Task<byte[]> NaaAsync(string volume)
        {
            var t = new ScsiTestTarget(volume: volume);
            var page = (await t.RunAsync(Cdb.Inquiry(true, 0x83), dataIn: 255)).DataIn.ToArray();
            Assert.Equal(0x83, page[1]);
            Assert.Equal(0x03, page[5] & 0x3F); // first designator: LU, NAA
            Assert.Equal(16, page[7]);
            Assert.Equal(0x6, page[8] >> 4);
            return page[8..24];
        }

        Assert.Equal(await NaaAsync("pvc-1234"), await NaaAsync("pvc-1234"));
        Assert.NotEqual(await NaaAsync("pvc-1234"), await NaaAsync("pvc-5678"));
    }

    [Fact]
    public async Task Block_limits_and_provisioning_pages_describe_a_thin_lu()
    {
        var t = new ScsiTestTarget();
        var limits = (await t.RunAsync(Cdb.Inquiry(true, 0xB0), dataIn: 64)).DataIn.Span;
        Assert.Equal(0x3C, limits[3]);
        Assert.Equal(255, limits[5]);
        Assert.NotEqual(0u, BinaryPrimitives.ReadUInt32BigEndian(limits[20..])); // MAXIMUM UNMAP LBA COUNT
        var lbp = (await t.RunAsync(Cdb.Inquiry(true, 0xB2), dataIn: 64)).DataIn.Span;
        Assert.Equal(0xE4, lbp[5]); // LBPU, LBPWS, LBPWS10, LBPRZ
        Assert.Equal(0x02, lbp[6] & 0x07);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.Inquiry(true, 0xC5), dataIn: 64), SenseKey.IllegalRequest, 0x24, 0x00);
    }

    [Fact]
    public async Task Mode_select_of_d_sense_switches_to_descriptor_sense_and_tells_other_nexuses()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync(ScsiTestTarget.Initiator1);
        await t.ClearAttentionAsync(ScsiTestTarget.Initiator2);
        var sense = await t.RunAsync(Cdb.ModeSense6(0x0A), dataIn: 255);
        Assert.Equal(ScsiStatus.Good, sense.Status);
        var data = sense.DataIn.Span[..sense.TransferLength].ToArray();
        Assert.Equal(0x0A, data[4]);
        data[0] = 0;
        data[4 + 2] |= 0x04; // D_SENSE
        var select = await t.RunAsync(Cdb.ModeSelect6((byte)data.Length), data);
        Assert.Equal(ScsiStatus.Good, select.Status);

        var failing = await t.RunAsync(Cdb.Read16(ulong.MaxValue, 1), dataIn: 512);
        Assert.Equal(0x72, failing.Sense.Span[0]);
        Assert.Equal((SenseKey.IllegalRequest, (byte)0x21, (byte)0x00), ScsiTestTarget.SenseOf(failing));
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.TestUnitReady(), nexus: ScsiTestTarget.Initiator2), SenseKey.UnitAttention, 0x2A, 0x01);
    }

    [Fact]
    public async Task Mode_select_of_an_unchangeable_field_is_refused()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var data = (await t.RunAsync(Cdb.ModeSense6(0x0A), dataIn: 255)).DataIn.Span[..16].ToArray();
        data[0] = 0;
        data[4 + 5] ^= 0x40; // TAS is not changeable
        var task = await t.RunAsync(Cdb.ModeSelect6((byte)data.Length), data);
        ScsiTestTarget.AssertSense(task, SenseKey.IllegalRequest, 0x26, 0x00);
        Assert.Equal((true, false, 9, -1), ScsiTestTarget.FieldPointerOf(task));
    }

    [Fact]
    public async Task Software_write_protect_refuses_writes()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var data = (await t.RunAsync(Cdb.ModeSense6(0x0A), dataIn: 255)).DataIn.Span[..16].ToArray();
        data[0] = 0;
        data[4 + 4] |= 0x08; // SWP
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.ModeSelect6((byte)data.Length), data)).Status);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.Write10(0, 1), new byte[512]), SenseKey.DataProtect, 0x27, 0x02);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Read10(0, 1), dataIn: 512)).Status);
        Assert.Equal(0x80, (await t.RunAsync(Cdb.ModeSense6(0x3F), dataIn: 255)).DataIn.Span[2] & 0x80);
    }

    [Fact]
    public async Task Report_supported_operation_codes_gives_usage_data_true_to_the_checks()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var one = await t.RunAsync(Cdb.ReportSupportedOpcodes(1, 0x88), dataIn: 64);
        Assert.Equal(ScsiStatus.Good, one.Status);
        var d = one.DataIn.Span;
        Assert.Equal(0x03, d[1] & 0x07);
        Assert.Equal(16, BinaryPrimitives.ReadUInt16BigEndian(d[2..]));
        Assert.Equal(0x88, d[4]);
        // Every bit the usage data clears is refused: byte 1 bit 2 of READ (16) is not in its mask.
        Assert.Equal(0, d[5] & 0x04);
        var cdb = Cdb.Read16(0, 1, flags: 0x04);
        var refused = await t.RunAsync(cdb, dataIn: 512);
        ScsiTestTarget.AssertSense(refused, SenseKey.IllegalRequest, 0x24, 0x00);

        // Service-action opcodes need reporting option 2, and the answer carries the service action.
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.ReportSupportedOpcodes(1, 0x9E), dataIn: 64), SenseKey.IllegalRequest, 0x24, 0x00);
        var sa = (await t.RunAsync(Cdb.ReportSupportedOpcodes(2, 0x9E, 0x10), dataIn: 64)).DataIn.Span;
        Assert.Equal(0x10, sa[5] & 0x1F);

        var all = await t.RunAsync(Cdb.ReportSupportedOpcodes(0), dataIn: 4096);
        Assert.Equal(ScsiStatus.Good, all.Status);
        Assert.True(BinaryPrimitives.ReadUInt32BigEndian(all.DataIn.Span) > 8 * 40);
    }
}

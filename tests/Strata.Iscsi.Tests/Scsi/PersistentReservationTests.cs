using System.Buffers.Binary;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class PersistentReservationTests
{
    private static readonly ItNexus One = ScsiTestTarget.Initiator1;
    private static readonly ItNexus Two = ScsiTestTarget.Initiator2;

    private static async Task<ScsiTestTarget> TwoRegisteredAsync()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync(One);
        await t.ClearAttentionAsync(Two);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.PersistentReserveOut(0), Cdb.PrParameters(0, 0xAAAA), nexus: One)).Status);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.PersistentReserveOut(0), Cdb.PrParameters(0, 0xBBBB), nexus: Two)).Status);
        return t;
    }

    private static async Task<(ScsiStatus Read, ScsiStatus Write)> AccessAsync(ScsiTestTarget t, ItNexus nexus)
    {
        var read = await t.RunAsync(Cdb.Read10(1, 1), dataIn: 512, nexus: nexus);
        var write = await t.RunAsync(Cdb.Write10(1, 1), new byte[512], nexus: nexus);
        return (read.Status, write.Status);
    }

    // SPC-4 5.13.1 table 49: (type, registered other can read, can write, unregistered can read, can write).
    [Theory]
    [InlineData(1, true, false, true, false)]   // Write Exclusive
    [InlineData(3, false, false, false, false)] // Exclusive Access
    [InlineData(5, true, true, true, false)]    // Write Exclusive - Registrants Only
    [InlineData(6, true, true, false, false)]   // Exclusive Access - Registrants Only
    [InlineData(7, true, true, true, false)]    // Write Exclusive - All Registrants
    [InlineData(8, true, true, false, false)]   // Exclusive Access - All Registrants
    public async Task Conflicts_follow_the_reservation_type(int type, bool regRead, bool regWrite, bool unregRead, bool unregWrite)
    {
        var t = await TwoRegisteredAsync();
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.PersistentReserveOut(1, type), Cdb.PrParameters(0xAAAA, 0), nexus: One)).Status);
        Assert.Equal((ScsiStatus.Good, ScsiStatus.Good), await AccessAsync(t, One));

        var registered = await AccessAsync(t, Two);
        Assert.Equal(regRead ? ScsiStatus.Good : ScsiStatus.ReservationConflict, registered.Read);
        Assert.Equal(regWrite ? ScsiStatus.Good : ScsiStatus.ReservationConflict, registered.Write);

        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.PersistentReserveOut(0), Cdb.PrParameters(0xBBBB, 0), nexus: Two)).Status);
        var unregistered = await AccessAsync(t, Two);
        Assert.Equal(unregRead ? ScsiStatus.Good : ScsiStatus.ReservationConflict, unregistered.Read);
        Assert.Equal(unregWrite ? ScsiStatus.Good : ScsiStatus.ReservationConflict, unregistered.Write);

        // INQUIRY and PERSISTENT RESERVE IN are always allowed.
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Inquiry(), dataIn: 96, nexus: Two)).Status);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.PersistentReserveIn(1), dataIn: 1024, nexus: Two)).Status);
    }

    [Fact]
    public async Task Read_keys_and_read_reservation_report_the_state()
    {
        var t = await TwoRegisteredAsync();
        await t.RunAsync(Cdb.PersistentReserveOut(1, 1), Cdb.PrParameters(0xAAAA, 0), nexus: One);
        var keys = await t.RunAsync(Cdb.PersistentReserveIn(0), dataIn: 1024);
        var k = keys.DataIn.Span;
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(k)); // two REGISTERs, RESERVE does not count
        Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(k[4..]));
        Assert.Equal(0xAAAAUL, BinaryPrimitives.ReadUInt64BigEndian(k[8..]));
        Assert.Equal(0xBBBBUL, BinaryPrimitives.ReadUInt64BigEndian(k[16..]));
        Assert.Equal(24, keys.TransferLength);

        var reservation = (await t.RunAsync(Cdb.PersistentReserveIn(1), dataIn: 1024)).DataIn.Span;
        Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(reservation[4..]));
        Assert.Equal(0xAAAAUL, BinaryPrimitives.ReadUInt64BigEndian(reservation[8..]));
        Assert.Equal(1, reservation[21]);
    }

    [Fact]
    public async Task Register_with_the_wrong_key_conflicts()
    {
        var t = await TwoRegisteredAsync();
        Assert.Equal(ScsiStatus.ReservationConflict, (await t.RunAsync(Cdb.PersistentReserveOut(0), Cdb.PrParameters(0x1234, 0x5678), nexus: One)).Status);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.PersistentReserveOut(6), Cdb.PrParameters(0x1234, 0x5678), nexus: One)).Status);
    }

    [Fact]
    public async Task Preempt_removes_the_holder_and_tells_it()
    {
        var t = await TwoRegisteredAsync();
        await t.RunAsync(Cdb.PersistentReserveOut(1, 3), Cdb.PrParameters(0xAAAA, 0), nexus: One);
        var preempt = await t.RunAsync(Cdb.PersistentReserveOut(4, 3), Cdb.PrParameters(0xBBBB, 0xAAAA), nexus: Two);
        Assert.Equal(ScsiStatus.Good, preempt.Status);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.TestUnitReady(), nexus: One), SenseKey.UnitAttention, 0x2A, 0x05);
        Assert.Equal(ScsiStatus.ReservationConflict, (await t.RunAsync(Cdb.Read10(0, 1), dataIn: 512, nexus: One)).Status);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Read10(0, 1), dataIn: 512, nexus: Two)).Status);
    }

    [Fact]
    public async Task Release_with_the_wrong_type_is_an_invalid_release()
    {
        var t = await TwoRegisteredAsync();
        await t.RunAsync(Cdb.PersistentReserveOut(1, 5), Cdb.PrParameters(0xAAAA, 0), nexus: One);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.PersistentReserveOut(2, 1), Cdb.PrParameters(0xAAAA, 0), nexus: One), SenseKey.IllegalRequest, 0x26, 0x04);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.PersistentReserveOut(2, 5), Cdb.PrParameters(0xAAAA, 0), nexus: One)).Status);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.TestUnitReady(), nexus: Two), SenseKey.UnitAttention, 0x2A, 0x04);
    }

    [Fact]
    public async Task Registrations_survive_nexus_loss_but_reserve6_does_not()
    {
        var t = await TwoRegisteredAsync();
        t.Target.NexusLost(One);
        var keys = (await t.RunAsync(Cdb.PersistentReserveIn(0), dataIn: 1024, nexus: Two)).DataIn.Span;
        Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(keys[4..]));

        await t.RunAsync(Cdb.PersistentReserveOut(3), Cdb.PrParameters(0xBBBB, 0), nexus: Two); // CLEAR
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Reserve6(), nexus: Two)).Status);
        await t.ClearAttentionAsync(One);
        Assert.Equal(ScsiStatus.ReservationConflict, (await t.RunAsync(Cdb.Read10(0, 1), dataIn: 512, nexus: One)).Status);
        t.Target.NexusLost(Two);
        Assert.Equal(ScsiStatus.Good, (await t.RunAsync(Cdb.Read10(0, 1), dataIn: 512, nexus: One)).Status);
    }
}

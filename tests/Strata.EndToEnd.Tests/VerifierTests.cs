using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>How a test damages a block in the backing file, behind the target's back.</summary>
public enum Corruption
{
    RevertToOlderVersion,
    ZeroAcknowledgedBlock,
    TearWithOlderVersion,
    CopyAnotherLbasBlock,
    GarbageInNeverWrittenBlock,
}

/// <summary>
/// The data-loss verifier (Harness/BlockVerifier, NbdClient) proven against a target nobody here wrote: Debian's
/// tgt serving a plain file, reached through qemu-nbd (libiscsi). A clean run verifies clean; each kind of damage
/// done to the backing file while no initiator is attached is reported, at exactly its LBA and nowhere else; and
/// the verifier's books survive losing qemu-nbd with writes in flight.
/// </summary>
public sealed class VerifierTests(ITestOutputHelper output) : IDisposable
{
    // 16384 blocks: the whole LUN reads back in a moment, and a few thousand random writes hit many blocks twice
    // while leaving others never written.
    private const long LunBytes = 64L << 20;
    private const int BlockSize = BlockVerifier.BlockSize;
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("verifier");
    private int _sockets;

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Verifier_checksum_is_crc32c() =>
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8)); // the standard check value of CRC-32C

    [Fact]
    public async Task Verifier_finds_nothing_wrong_after_a_clean_run_of_writes_through_tgt()
    {
        await using var target = await StartTgtAsync();
        await using var nbd = await AttachAsync(target);
        await using var client = await nbd.ConnectAsync();
        Assert.Equal(LunBytes, client.Size);
        var verifier = new BlockVerifier(client.Size, seed: 1);

        var run = await verifier.RunWritesAsync(client, new WriteLoad { Writes = 5000, Depth = 16 });
        _log(run.ToString());
        Assert.True(run.Failed == 0 && run.FlushesFailed == 0 && verifier.Errors == 0, string.Join("\n", verifier.ErrorLog));
        Assert.Equal(5000, verifier.Acknowledged);
        Assert.True(verifier.BytesWritten > 5000L * BlockSize, "no multi-block write was made");

        var report = await verifier.VerifyAsync(client);
        _log(report.ToString());
        Assert.True(report.Clean, report + "\n" + target.Describe());
        Assert.Equal(verifier.Blocks, report.BlocksChecked);
        Assert.InRange(report.NeverWritten, 1, verifier.Blocks - 1); // written and never-written blocks were both checked
        Assert.Equal(0, report.InFlightVersions);
    }

    [Theory]
    [InlineData(Corruption.RevertToOlderVersion, ViolationKind.OlderThanAcknowledged)]
    [InlineData(Corruption.ZeroAcknowledgedBlock, ViolationKind.OlderThanAcknowledged)]
    [InlineData(Corruption.TearWithOlderVersion, ViolationKind.Torn)]
    [InlineData(Corruption.CopyAnotherLbasBlock, ViolationKind.WrongLba)]
    [InlineData(Corruption.GarbageInNeverWrittenBlock, ViolationKind.NonzeroNeverWritten)]
    public async Task Verifier_reports_a_block_damaged_behind_tgts_back_at_exactly_its_lba(Corruption corruption, ViolationKind expected)
    {
        const long victim = 100, other = 200;
        await using var target = await StartTgtAsync();
        string file = target.BackingFile;
        var verifier = new BlockVerifier(LunBytes, seed: 2);
        byte[] older;
        await using (var nbd = await AttachAsync(target))
        await using (var client = await nbd.ConnectAsync())
        {
            Assert.True(await verifier.WriteAsync(client, victim));
            Assert.True(await verifier.WriteAsync(client, other));
            // Version 1 of the victim as tgt stored it: tgt writes the file through this machine's page cache.
            older = ReadBlock(file, victim);
            var run = await verifier.RunWritesAsync(client, new WriteLoad { Writes = 2000 });
            Assert.True(run.Failed == 0, string.Join("\n", verifier.ErrorLog));
            Assert.True(await verifier.WriteAsync(client, victim)); // so the victim surely has a newer version
            Assert.True(verifier.AcknowledgedSeq(victim) >= 2);
        }
        // qemu-nbd is gone: no initiator holds anything of the LUN while the file changes.

        long damaged = victim;
        byte[] current = ReadBlock(file, victim);
        switch (corruption)
        {
            case Corruption.RevertToOlderVersion:
                WriteBlock(file, victim, older);
                break;
            case Corruption.ZeroAcknowledgedBlock:
                WriteBlock(file, victim, new byte[BlockSize]);
                break;
            case Corruption.TearWithOlderVersion:
                // The newer header and first half, the older second half: what a write cut between sectors leaves.
                older.AsSpan(BlockSize / 2).CopyTo(current.AsSpan(BlockSize / 2));
                WriteBlock(file, victim, current);
                break;
            case Corruption.CopyAnotherLbasBlock:
                WriteBlock(file, victim, ReadBlock(file, other));
                break;
            case Corruption.GarbageInNeverWrittenBlock:
                damaged = Enumerable.Range(0, (int)verifier.Blocks).First(lba => !verifier.EverWritten(lba));
                var garbage = new byte[BlockSize];
                new Random(3).NextBytes(garbage);
                WriteBlock(file, damaged, garbage);
                break;
        }

        await using (var nbd = await AttachAsync(target))
        await using (var client = await nbd.ConnectAsync())
        {
            var report = await verifier.VerifyAsync(client);
            _log($"{corruption} at LBA {damaged}: {report}");
            Assert.True(report.Violations.Count == 1, $"expected exactly one violation, at LBA {damaged}: {report}");
            Assert.Equal(damaged, report.Violations[0].Lba);
            Assert.Equal(expected, report.Violations[0].Kind);
        }
    }

    [Fact]
    public async Task Verifier_state_survives_qemu_nbd_killed_with_writes_in_flight_and_a_fresh_connection()
    {
        await using var target = await StartTgtAsync();
        var verifier = new BlockVerifier(LunBytes, seed: 3);
        await using (var nbd = await AttachAsync(target))
        await using (var client = await nbd.ConnectAsync())
        {
            // No flushes in this run: a flush to tgt is an fsync that can take a while, and had every writer been
            // waiting on one at the kill, no write would have been in flight.
            var running = verifier.RunWritesAsync(client, new WriteLoad { Writes = 1_000_000, Depth = 16, FlushEvery = 0, OnError = OnWriteError.Stop });
            await Wait.UntilAsync(() => verifier.Acknowledged >= 2000 || running.IsCompleted, TimeSpan.FromSeconds(60),
                "2000 acknowledged writes");
            await nbd.KillAsync();
            var run = await running;
            _log($"qemu-nbd killed (SIGKILL) during {run}; first error: {verifier.ErrorLog.FirstOrDefault()}");
            // Writes were in flight at the kill: they fail, their outcome unknown.
            Assert.True(run.Failed > 0 && verifier.OutcomeUnknown > 0, $"no write was in flight at the kill: {run}");
            Assert.True(run.Acknowledged >= 2000, $"the run failed before the kill: {string.Join("\n", verifier.ErrorLog)}");
        }

        await using (var nbd = await AttachAsync(target))
        await using (var client = await nbd.ConnectAsync())
        {
            // The writes cut off by the kill may or may not be on the disk; either is fine, nothing else is.
            var report = await verifier.VerifyAsync(client);
            _log($"after the kill, through a fresh qemu-nbd: {report}");
            Assert.True(report.Clean, report + "\n" + target.Describe());

            long errors = verifier.Errors;
            var run = await verifier.RunWritesAsync(client, new WriteLoad { Writes = 3000 });
            _log(run.ToString());
            Assert.True(run.Failed == 0 && verifier.Errors == errors, string.Join("\n", verifier.ErrorLog));
            report = await verifier.VerifyAsync(client);
            _log($"after writing on: {report}");
            Assert.True(report.Clean, report + "\n" + target.Describe());
        }
    }

    private Task<IIscsiTarget> StartTgtAsync() =>
        TargetExtensions.StartAsync(Targets.Tgt, new TargetOptions { File = _scratch.File("lun.img"), SizeBytes = LunBytes }, _log);

    /// <summary>A fresh qemu-nbd on its own socket: a new initiator session to the LUN.</summary>
    private Task<QemuNbd> AttachAsync(IIscsiTarget target) =>
        QemuNbd.StartAsync(target.Url(), _scratch.File($"nbd-{++_sockets}.sock"), _log);

    private static byte[] ReadBlock(string file, long lba)
    {
        using var handle = File.OpenHandle(file);
        var block = new byte[BlockSize];
        Assert.Equal(BlockSize, RandomAccess.Read(handle, block, lba * BlockSize));
        return block;
    }

    private static void WriteBlock(string file, long lba, byte[] block)
    {
        using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, block, lba * BlockSize);
    }
}

using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class HotPathAllocationTests
{
    private static bool Optimized =>
        typeof(BlockLogicalUnit).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            is not [System.Diagnostics.DebuggableAttribute { IsJITOptimizerDisabled: true }];

    [Fact]
    public async Task Read_and_write_allocate_nothing_in_steady_state_when_the_device_completes_synchronously()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        var task = new ScsiTask();
        int failures = 0;
        var data = new byte[8 * 512];
        byte[] read10 = Cdb.Read10(8, 8);
        byte[] write16 = Cdb.Write16(8, 8);

        void Run(byte[] cdb, bool write)
        {
            task.Reset();
            task.Nexus = ScsiTestTarget.Initiator1;
            task.SetCdb(cdb);
            task.DataOut = write ? data : default;
            task.DataIn = write ? default : data;
            task.ExpectedDataTransferLength = data.Length;
            var pending = t.Target.ExecuteAsync(task);
            if (!pending.IsCompletedSuccessfully || task.Status != ScsiStatus.Good)
            {
                failures++;
            }
        }

        for (int i = 0; i < 100; i++)
        {
            Run(read10, write: false);
            Run(write16, write: true);
        }

        // qemu's iSCSI driver sends a GET LBA STATUS before every read of a thin LU when it does not cache.
        byte[] getLbaStatus = Cdb.GetLbaStatus(8, 24);
        byte[] testUnitReady = Cdb.TestUnitReady();
        Run(getLbaStatus, write: false);

        // This thread's allocation counter can jump by a few KB now and then without an allocation of ours, when
        // a garbage collection runs for the tests beside this one (dotnet/runtime#63487, #74388): a command that
        // allocates does it every time, so the least of three rounds is what this code allocates.
        long reads = long.MaxValue, writes = long.MaxValue, turs = long.MaxValue, lbaStatus = long.MaxValue;
        var rounds = new List<string>();
        for (int round = 0; round < 3; round++)
        {
            long r = Measure(read10, write: false);
            long w = Measure(write16, write: true);
            long u = Measure(testUnitReady, write: false);
            long l = Measure(getLbaStatus, write: false);
            rounds.Add($"READ(10) {r}, WRITE(16) {w}, TEST UNIT READY {u}, GET LBA STATUS {l}");
            (reads, writes, turs, lbaStatus) = (Math.Min(reads, r), Math.Min(writes, w), Math.Min(turs, u), Math.Min(lbaStatus, l));
        }

        string measured = $"bytes allocated by 1000 commands, in each of 3 rounds: {string.Join("; ", rounds)}";
        Assert.Equal(0, failures);
        Assert.True(turs == 0, measured);
        if (Optimized)
        {
            Assert.True(reads == 0 && writes == 0 && lbaStatus == 0, measured);
        }
        else
        {
            // A Debug build compiles async methods to classes, one small box per call; Release allocates nothing.
            Assert.True(reads + writes + lbaStatus <= 3000 * 512, measured);
        }

        long Measure(byte[] cdb, bool write)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                Run(cdb, write);
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
    }
}

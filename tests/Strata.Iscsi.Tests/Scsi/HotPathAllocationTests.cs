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

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Run(read10, write: false);
        }

        long reads = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Run(write16, write: true);
        }

        long writes = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Run(Cdb.TestUnitReady(), write: false);
        }

        long turs = GC.GetAllocatedBytesForCurrentThread() - before - (1000 * 32);
        Assert.Equal(0, failures);
        Assert.Equal(0L, turs);
        if (Optimized)
        {
            Assert.Equal((0L, 0L), (reads, writes));
        }
        else
        {
            // A Debug build compiles async methods to classes, one small box per call; Release allocates nothing.
            Assert.InRange(reads + writes, 0, 2000 * 512);
        }
    }
}

using System.Buffers.Binary;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Tests.Scsi;

public sealed class CompareAndWriteTests
{
    private static byte[] Block(byte value) => Enumerable.Repeat(value, 512).ToArray();

    private static byte[] Pair(byte expected, byte next) => [.. Block(expected), .. Block(next)];

    [Fact]
    public async Task Writes_when_equal_and_reports_the_first_differing_byte_otherwise()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(7, 1), Block((byte)'A'));

        var ok = await t.RunAsync(Cdb.CompareAndWrite(7, 1), Pair((byte)'A', (byte)'B'));
        Assert.Equal(ScsiStatus.Good, ok.Status);
        Assert.Equal(1024, ok.TransferLength);
        Assert.True(t.Device.Raw(7, 1).IndexOfAnyExcept((byte)'B') < 0);

        var verify = Pair((byte)'B', (byte)'C');
        verify[300] = (byte)'X';
        var miss = await t.RunAsync(Cdb.CompareAndWrite(7, 1), verify);
        ScsiTestTarget.AssertSense(miss, SenseKey.Miscompare, 0x1D, 0x00);
        Assert.Equal(0x80, miss.Sense.Span[0] & 0x80); // VALID
        Assert.Equal(300u, BinaryPrimitives.ReadUInt32BigEndian(miss.Sense.Span[3..]));
        Assert.True(t.Device.Raw(7, 1).IndexOfAnyExcept((byte)'B') < 0);
    }

    [Fact]
    public async Task Data_out_of_the_wrong_size_is_refused()
    {
        var t = new ScsiTestTarget();
        await t.ClearAttentionAsync();
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.CompareAndWrite(0, 1), new byte[4 * 512]), SenseKey.IllegalRequest, 0x24, 0x00);
        ScsiTestTarget.AssertSense(await t.RunAsync(Cdb.CompareAndWrite(0, 3), new byte[4 * 512]), SenseKey.IllegalRequest, 0x24, 0x00);
    }

    [Fact]
    public async Task Concurrent_compare_and_writes_increment_exactly_once_each()
    {
        // Each worker reads the counter block and swaps v for v+1; a lost update or torn block would show.
        var t = new ScsiTestTarget();
        t.Device.Yield = true;
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 1), Block(0));
        int successes = 0;
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (int round = 0; round < 15; round++)
            {
                while (true)
                {
                    var read = await t.RunAsync(Cdb.Read10(0, 1), dataIn: 512);
                    var block = read.DataIn.Span;
                    Assert.True(block.IndexOfAnyExcept(block[0]) < 0, "torn block read");
                    byte v = block[0];
                    var caw = await t.RunAsync(Cdb.CompareAndWrite(0, 1), Pair(v, (byte)(v + 1)));
                    if (caw.Status == ScsiStatus.Good)
                    {
                        Interlocked.Increment(ref successes);
                        break;
                    }

                    ScsiTestTarget.AssertSense(caw, SenseKey.Miscompare, 0x1D, 0x00);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        Assert.Equal(120, successes);
        Assert.True(t.Device.Raw(0, 1).IndexOfAnyExcept((byte)120) < 0);
    }

    [Fact]
    public async Task Compare_and_write_never_sees_or_leaves_a_torn_block_amid_plain_writes()
    {
        var t = new ScsiTestTarget();
        t.Device.Yield = true;
        await t.ClearAttentionAsync();
        await t.RunAsync(Cdb.Write10(0, 1), Block(1));
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                await t.RunAsync(Cdb.Write16(0, 1), Block((byte)(100 + w)));
            }
        }));
        var swappers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                var read = await t.RunAsync(Cdb.Read16(0, 1), dataIn: 512);
                var block = read.DataIn.ToArray();
                Assert.True(block.AsSpan().IndexOfAnyExcept(block[0]) < 0, "torn block read");
                var caw = await t.RunAsync(Cdb.CompareAndWrite(0, 1), Pair(block[0], (byte)(200 + w)));
                if (caw.Status != ScsiStatus.Good)
                {
                    // A miscompare must point inside the block at a byte that really differed: offset 0.
                    ScsiTestTarget.AssertSense(caw, SenseKey.Miscompare, 0x1D, 0x00);
                    Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(caw.Sense.Span[3..]));
                }
            }
        }));
        await Task.WhenAll(writers.Concat(swappers));
        var last = t.Device.Raw(0, 1);
        Assert.True(last.IndexOfAnyExcept(last[0]) < 0);
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Strata.Replication.Protocol;
using Xunit;

namespace Strata.Replication.Tests.Protocol;

/// <summary>
/// <see cref="FrameOutbox{T}"/>: many threads add, at once or batched, one at a time writes, nothing is lost or sent twice, a flush the
/// reader holds up keeps the writer, closing waits for it, and a broken output releases every item and is heard of once.
/// Items are (thread, sequence) pairs framed as 8 bytes.
/// </summary>
public sealed class FrameOutboxTests
{
    private static void Frame(PipeWriter output, (int Thread, int Seq) item)
    {
        var span = output.GetSpan(8);
        BinaryPrimitives.WriteInt32LittleEndian(span, item.Thread);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], item.Seq);
        output.Advance(8);
    }

    private static async Task<List<(int Thread, int Seq)>> ReadAllAsync(PipeReader reader, int count)
    {
        var items = new List<(int, int)>(count);
        while (items.Count < count)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            while (buffer.Length >= 8)
            {
                var bytes = buffer.Slice(0, 8).ToArray();
                items.Add((BinaryPrimitives.ReadInt32LittleEndian(bytes), BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4))));
                buffer = buffer.Slice(8);
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            Assert.False(result.IsCompleted && items.Count < count, $"the output ended after {items.Count} of {count} items");
        }

        return items;
    }

    [Fact]
    public async Task Items_added_by_many_threads_at_once_or_batched_through_a_slow_reader_all_arrive_once_each_in_each_threads_order()
    {
        // A tiny pause threshold: flushes often wait for the reader, so the writer is kept across awaits.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 256, resumeWriterThreshold: 128, useSynchronizationContext: false));
        int writers = 0, maxWriters = 0;
        var outbox = new FrameOutbox<(int Thread, int Seq)>(pipe.Writer, (item, send) =>
        {
            int now = Interlocked.Increment(ref writers);
            InterlockedMax(ref maxWriters, now);
            Assert.True(send);
            Frame(pipe.Writer, item);
            Interlocked.Decrement(ref writers);
        }, e => Assert.Fail($"the output broke: {e}"), flushThreshold: 64);

        const int threads = 4, each = 5000;
        var reading = Task.Run(() => ReadAllAsync(pipe.Reader, threads * each));
        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < each; i++)
            {
                // Some at once, some batched (sent by a thread pool item): all arrive, in order.
                outbox.Enqueue((t, i), batch: i % 3 != 0);
            }
        })));
        var items = await reading.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, maxWriters);
        for (int t = 0; t < threads; t++)
        {
            Assert.Equal(Enumerable.Range(0, each), items.Where(x => x.Thread == t).Select(x => x.Seq));
        }
    }

    [Fact]
    public async Task Close_waits_for_a_flush_held_up_by_the_reader_sends_what_is_left_and_then_nothing_more()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 16, resumeWriterThreshold: 8, useSynchronizationContext: false));
        var outbox = new FrameOutbox<(int Thread, int Seq)>(pipe.Writer, (item, _) => Frame(pipe.Writer, item), e => Assert.Fail(e.ToString()), flushThreshold: 1 << 20);
        outbox.Add((0, 0));
        outbox.Add((0, 1));
        outbox.Add((0, 2));
        outbox.Send(); // 24 bytes: past the pause threshold, so the flush waits for the reader
        outbox.Enqueue((0, 3)); // the holder sends it

        var closing = outbox.CloseAsync();
        Assert.False(closing.IsCompleted);
        Assert.Equal([(0, 0), (0, 1), (0, 2), (0, 3)], await ReadAllAsync(pipe.Reader, 4));
        await closing.WaitAsync(TimeSpan.FromSeconds(10));

        outbox.Enqueue((0, 4)); // after close: held for good, never written
        await pipe.Writer.CompleteAsync();
        var rest = await pipe.Reader.ReadAsync();
        Assert.True(rest.IsCompleted);
        Assert.Equal(0, rest.Buffer.Length);
    }

    [Fact]
    public async Task A_broken_output_is_heard_of_once_and_every_item_after_it_is_only_released()
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var failures = new List<Exception>();
        var released = new List<(int, int)>();
        var outbox = new FrameOutbox<(int Thread, int Seq)>(pipe.Writer, (item, send) =>
        {
            if (send)
            {
                Frame(pipe.Writer, item);
            }
            else
            {
                released.Add(item);
            }
        }, failures.Add, flushThreshold: 1 << 20);

        outbox.Enqueue((0, 0));
        Assert.Equal([(0, 0)], await ReadAllAsync(pipe.Reader, 1));
        await pipe.Reader.CompleteAsync(); // the reader goes: the next flush says the output is completed

        outbox.Enqueue((0, 1));
        outbox.Enqueue((0, 2));
        outbox.Enqueue((0, 3));
        await outbox.CloseAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.IsType<IOException>(Assert.Single(failures));
        Assert.Equal([(0, 2), (0, 3)], released);
    }

    [Fact]
    public async Task A_frame_that_throws_breaks_the_output_once_and_lets_the_writer_go()
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var failures = new List<Exception>();
        var released = new List<(int, int)>();
        var outbox = new FrameOutbox<(int Thread, int Seq)>(pipe.Writer, (item, send) =>
        {
            if (!send)
            {
                released.Add(item);
            }
            else if (item.Seq == 1)
            {
                throw new ArgumentException("a bug in the framing");
            }
            else
            {
                Frame(pipe.Writer, item);
            }
        }, failures.Add, flushThreshold: 1 << 20);

        outbox.Enqueue((0, 0));
        outbox.Enqueue((0, 1));
        outbox.Enqueue((0, 2));
        await outbox.CloseAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.IsType<ArgumentException>(Assert.Single(failures));
        Assert.Equal([(0, 2)], released);
        Assert.Equal([(0, 0)], await ReadAllAsync(pipe.Reader, 1));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}

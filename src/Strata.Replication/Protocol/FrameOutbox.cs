using System.Collections.Concurrent;
using System.IO.Pipelines;

namespace Strata.Replication.Protocol;

/// <summary>
/// What one connection sends, written into its PipeWriter without a send loop: the thread that adds an item frames
/// it, with any others added meanwhile, and flushes (one send(2), which the kernel usually takes at once), unless
/// another thread holds the writer; that one then frames it too before it lets go. This saves every request and
/// every response the hop to a send loop's thread and back. A flush the socket cannot take at once goes on
/// asynchronously and keeps the writer until nothing is left to send.
/// <para>
/// An item added with <c>batch: true</c> (small, with others in flight: more will follow soon) is sent by a thread
/// pool item instead, which takes everything added by then: one send(2) for many small frames, as a send loop
/// gives, where sending each at once would cost a syscall (and a wakeup of the peer) per frame.
/// </para>
/// </summary>
/// <remarks>
/// The writer is held by at most one thread at a time, so the PipeWriter (not thread-safe) sees one caller; holding
/// is a flag, never a lock, so no thread ever waits for another's send. Once the output breaks, items are handed to
/// the frame callback with <c>send: false</c> (to release what they hold) and the failure callback hears why, once.
/// </remarks>
internal sealed class FrameOutbox<T> : IThreadPoolWorkItem
{
    private readonly ConcurrentQueue<T> _queue = new();
    private readonly PipeWriter _output;
    private readonly Action<T, bool> _frame;
    private readonly Action<Exception> _failed;
    private readonly int _flushThreshold;

    /// <summary>1 while a thread writes into the output; 1 for good once <see cref="CloseAsync"/> has returned.</summary>
    private int _held;
    private TaskCompletionSource? _released;
    private int _scheduled;
    private volatile bool _broken;

    /// <param name="frame">Frames an item into the output (send: true), or only releases it (send: false: the output is broken).</param>
    /// <param name="failed">Hears, once, why the output broke (a flush failed, or the reader went).</param>
    /// <param name="flushThreshold">A flush is made once this many bytes are framed, not only when nothing is left.</param>
    public FrameOutbox(PipeWriter output, Action<T, bool> frame, Action<Exception> failed, int flushThreshold)
    {
        _output = output;
        _frame = frame;
        _failed = failed;
        _flushThreshold = flushThreshold;
    }

    /// <summary>Adds an item without sending it yet (<see cref="Send"/> does): to add under a caller's lock, send after it.</summary>
    public void Add(T item) => _queue.Enqueue(item);

    /// <summary>Adds an item and sends it (now, on this thread, or by the thread holding the writer).</summary>
    public void Enqueue(T item)
    {
        _queue.Enqueue(item);
        Send();
    }

    /// <summary>Adds an item and sends it at once, or, with <paramref name="batch"/>, soon, with whatever follows it.</summary>
    public void Enqueue(T item, bool batch)
    {
        _queue.Enqueue(item);
        Send(batch);
    }

    /// <summary>Sends what was added: at once (<see cref="Send()"/>), or, with <paramref name="batch"/>, from a thread
    /// pool item that takes everything added until it runs.</summary>
    public void Send(bool batch)
    {
        if (!batch)
        {
            Send();
        }
        else if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>The batched send: reset first, so an item added while it runs schedules another or is taken by this one.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        Interlocked.Exchange(ref _scheduled, 0);
        Send();
    }

    /// <summary>Sends what was added, on this thread, unless another thread holds the writer (it sends it then).</summary>
    public void Send()
    {
        // The holder checks the queue after it lets go, and an adder tries to take hold after it added: between them,
        // no item is left unsent.
        while (!_queue.IsEmpty && Interlocked.CompareExchange(ref _held, 1, 0) == 0)
        {
            while (true)
            {
                var flush = FrameAndFlush();
                if (!flush.IsCompleted)
                {
                    _ = FinishAsync(flush);
                    return;
                }

                Flushed(flush);
                if (_queue.IsEmpty)
                {
                    break;
                }
            }

            Release();
        }
    }

    /// <summary>
    /// Sends what is left, then holds the writer for good: whatever is added later is never sent. Once this returns,
    /// the output may be completed.
    /// </summary>
    public async Task CloseAsync()
    {
        while (true)
        {
            var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Exchange(ref _released, released);
            if (Interlocked.CompareExchange(ref _held, 1, 0) == 0)
            {
                while (!_queue.IsEmpty)
                {
                    Flushed(await AwaitFlush(FrameAndFlush()).ConfigureAwait(false));
                }

                return;
            }

            await released.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Frames what is queued, up to the flush threshold, and starts the flush (held by this thread).</summary>
    private ValueTask<FlushResult> FrameAndFlush()
    {
        while (_queue.TryDequeue(out var item))
        {
            bool send = !_broken;
            try
            {
                _frame(item, send);
            }
            catch (Exception e)
            {
                // Whatever it is (a closed output, or a bug in the framing), the writer must be let go and the output
                // taken as broken: a thrown-through holder would keep it forever, and CloseAsync would wait for ever.
                Break(e);
            }

            if (!_broken && _output.UnflushedBytes >= _flushThreshold)
            {
                break;
            }
        }

        if (_broken)
        {
            return default;
        }

        try
        {
            return _output.FlushAsync();
        }
        catch (Exception e)
        {
            return ValueTask.FromException<FlushResult>(e);
        }
    }

    private async Task FinishAsync(ValueTask<FlushResult> flush)
    {
        while (true)
        {
            Flushed(await AwaitFlush(flush).ConfigureAwait(false));
            if (_queue.IsEmpty)
            {
                break;
            }

            flush = FrameAndFlush();
        }

        Release();
        Send();
    }

    /// <summary>A flush's result, or, when it threw, a result that says the output is gone (the failure recorded).</summary>
    private async ValueTask<FlushResult> AwaitFlush(ValueTask<FlushResult> flush)
    {
        try
        {
            return await flush.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Break(e);
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
    }

    private void Flushed(ValueTask<FlushResult> flush)
    {
        FlushResult result;
        try
        {
            result = flush.Result;
        }
        catch (Exception e)
        {
            Break(e);
            return;
        }

        Flushed(result);
    }

    private void Flushed(FlushResult result)
    {
        if (!_broken && (result.IsCompleted || result.IsCanceled))
        {
            Break(new IOException("the connection's output was closed"));
        }
    }

    private void Break(Exception e)
    {
        if (_broken)
        {
            return;
        }

        _broken = true;
        _failed(e);
    }

    private void Release()
    {
        Interlocked.Exchange(ref _held, 0);
        Interlocked.Exchange(ref _released, null)?.TrySetResult();
    }
}

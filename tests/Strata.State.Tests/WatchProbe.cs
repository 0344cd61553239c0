using System.Threading.Channels;

namespace Strata.State.Tests;

/// <summary>A watch pumped in the background into a queue, read with deadlines.</summary>
public sealed class WatchProbe : IAsyncDisposable
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(15);

    private readonly Channel<StoreEvent> _events = Channel.CreateUnbounded<StoreEvent>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;
    private Exception? _error;
    private int _disposed;

    public WatchProbe(IStore store, string prefix, long fromRevision)
    {
        _pump = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in store.WatchAsync(prefix, fromRevision, _stop.Token))
                {
                    await _events.Writer.WriteAsync(e);
                }
                _events.Writer.Complete();
            }
            catch (Exception e)
            {
                _error = e;
                _events.Writer.Complete();
            }
        });
    }

    /// <summary>The next event; <see cref="TimeoutException"/> when none comes within <paramref name="wait"/>; the watch's own exception when it ended.</summary>
    public async Task<StoreEvent> NextAsync(TimeSpan? wait = null)
    {
        using var deadline = new CancellationTokenSource(wait ?? DefaultWait);
        try
        {
            if (await _events.Reader.WaitToReadAsync(deadline.Token) && _events.Reader.TryRead(out var e))
            {
                return e;
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"no watch event within {(wait ?? DefaultWait).TotalSeconds} s");
        }
        throw _error ?? new InvalidOperationException("the watch ended without an error");
    }

    public async Task<List<StoreEvent>> TakeAsync(int count, TimeSpan? wait = null)
    {
        var events = new List<StoreEvent>();
        while (events.Count < count)
        {
            events.Add(await NextAsync(wait));
        }
        return events;
    }

    /// <summary>The exception the watch ended with (after its queued events).</summary>
    public async Task<Exception> EndAsync(TimeSpan? wait = null)
    {
        await _pump.WaitAsync(wait ?? DefaultWait);
        return _error ?? throw new InvalidOperationException("the watch ended without an error");
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stop.CancelAsync();
        try
        {
            await _pump.WaitAsync(DefaultWait);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException("the watch did not end when cancelled");
        }
        _stop.Dispose();
    }
}

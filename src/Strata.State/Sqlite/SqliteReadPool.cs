using Microsoft.Data.Sqlite;

namespace Strata.State.Sqlite;

/// <summary>Read-only connections beside the writer: in WAL mode each reads a consistent snapshot while the writer commits.</summary>
internal sealed class SqliteReadPool(string connectionString, int size) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(size, size);
    private readonly Stack<SqliteConnection> _idle = new();
    private bool _disposed; // under _idle

    public async Task<SqliteConnection> RentAsync(CancellationToken ct)
    {
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            lock (_idle)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_idle.TryPop(out var idle))
                {
                    return idle;
                }
            }
            var connection = new SqliteConnection(connectionString);
            try
            {
                await connection.OpenAsync(ct).ConfigureAwait(false);
                using var pragma = connection.CreateCommand();
                pragma.CommandText = "PRAGMA query_only = ON";
                await pragma.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                return connection;
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    public void Return(SqliteConnection connection)
    {
        bool keep;
        lock (_idle)
        {
            keep = !_disposed;
            if (keep)
            {
                _idle.Push(connection);
            }
        }
        if (!keep)
        {
            connection.Dispose();
        }
        _slots.Release();
    }

    public void Dispose()
    {
        lock (_idle)
        {
            _disposed = true;
            while (_idle.TryPop(out var connection))
            {
                connection.Dispose();
            }
        }
    }
}

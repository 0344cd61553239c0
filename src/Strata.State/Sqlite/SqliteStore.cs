using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Strata.State.Sqlite;

/// <summary>
/// <see cref="IStore"/> in one SQLite file, for a single node (or tests): WAL mode with synchronous=FULL, so a
/// returned write survives kill -9 and power loss. Tables:
/// <list type="bullet">
/// <item><c>kv</c>: the current records;</item>
/// <item><c>history</c>: one row per revision (the change it made), the last <see cref="SqliteStoreOptions.HistoryRevisions"/> kept, for watches;</item>
/// <item><c>leases</c>: each lease's TTL and its deadline as wall-clock Unix milliseconds;</item>
/// <item><c>meta</c>: the store revision and the highest revision whose history is gone.</item>
/// </list>
/// Every change is one transaction that takes the next store revision; a lease revoke or expiry deletes its records
/// in one transaction, one revision per record. Granting, renewing or revoking a lease with no records takes no revision.
/// One writer connection serialised by a lock; reads and watches use a pool of read connections (WAL snapshots).
/// Watchers are woken in process on every commit, then read the history table: the store is meant to be opened
/// by one process at a time, which a lock file (<c>PATH.lock</c>) enforces.
/// Leases run on the monotonic clock while the process lives; their deadlines are persisted as wall-clock times,
/// so after a restart a lease keeps its remaining time (and one that ran out while the store was closed ends at once).
/// </summary>
public sealed class SqliteStore : IStore
{
    private const int WatchBatch = 256;
    private const int SchemaVersion = 1;

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS kv(
            key BLOB PRIMARY KEY, value BLOB NOT NULL, mod_revision INTEGER NOT NULL,
            create_revision INTEGER NOT NULL, lease INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease) WHERE lease <> 0;
        CREATE TABLE IF NOT EXISTS history(
            revision INTEGER PRIMARY KEY, key BLOB NOT NULL, type INTEGER NOT NULL, value BLOB NOT NULL,
            create_revision INTEGER NOT NULL, lease INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS leases(id INTEGER PRIMARY KEY AUTOINCREMENT, ttl_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS meta(id INTEGER PRIMARY KEY CHECK (id = 0), revision INTEGER NOT NULL, compacted INTEGER NOT NULL);
        INSERT OR IGNORE INTO meta(id, revision, compacted) VALUES (0, 1, 0);
        """;

    private readonly SqliteStoreOptions _options;
    private readonly SqliteConnection _writer;
    private readonly SqliteReadPool? _readers; // null in memory: reads share the writer, under the write lock
    private readonly FileStream? _lockFile;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();

    // Under _writeLock: the last committed revision, the highest revision whose history is gone, the live leases.
    private long _revision;
    private long _compacted;
    private readonly Dictionary<long, LeaseState> _leases = [];

    private TaskCompletionSource _committed = NewSignal();
    private Task _expiryLoop = Task.CompletedTask;
    private int _disposed;

    private SqliteStore(string description, SqliteStoreOptions options, SqliteConnection writer, SqliteReadPool? readers, FileStream? lockFile)
    {
        Description = description;
        _options = options;
        _writer = writer;
        _readers = readers;
        _lockFile = lockFile;
    }

    public string Description { get; }

    /// <summary>
    /// Opens (creating if needed) the store in the file at <paramref name="path"/>, or a private in-memory store for
    /// <c>:memory:</c> (gone when disposed). Throws <see cref="StoreException"/> when the file cannot be opened or
    /// another store holds it.
    /// </summary>
    public static async Task<SqliteStore> OpenAsync(string path, SqliteStoreOptions? options = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new SqliteStoreOptions();
        options.Validate();
        bool memory = path == ":memory:";
        string fullPath = memory ? path : Path.GetFullPath(path);
        string description = "sqlite:" + fullPath;

        FileStream? lockFile = null;
        SqliteConnection? writer = null;
        SqliteReadPool? readers = null;
        try
        {
            if (!memory)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
                lockFile = OpenLockFile(fullPath);
            }
            var builder = new SqliteConnectionStringBuilder
            {
                DataSource = fullPath,
                Mode = memory ? SqliteOpenMode.Memory : SqliteOpenMode.ReadWriteCreate,
                Pooling = false,
            };
            writer = new SqliteConnection(builder.ToString());
            await writer.OpenAsync(ct).ConfigureAwait(false);
            await ExecuteAsync(writer, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", ct).ConfigureAwait(false);
            long version = await ScalarAsync(writer, "PRAGMA user_version", ct).ConfigureAwait(false);
            if (version > SchemaVersion)
            {
                throw new StoreException($"{description}: schema version {version} is newer than this program's ({SchemaVersion})");
            }
            using (var tx = writer.BeginTransaction())
            {
                await ExecuteAsync(writer, Schema + $"PRAGMA user_version = {SchemaVersion};", ct, tx).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
            }
            if (!memory)
            {
                builder.Mode = SqliteOpenMode.ReadWrite;
                readers = new SqliteReadPool(builder.ToString(), options.ReadConnections);
            }
            var store = new SqliteStore(description, options, writer, readers, lockFile);
            await store.LoadAsync(ct).ConfigureAwait(false);
            store._expiryLoop = store.ExpireLeasesLoopAsync();
            return store;
        }
        catch (Exception e)
        {
            readers?.Dispose();
            if (writer is not null)
            {
                await writer.DisposeAsync().ConfigureAwait(false);
            }
            if (lockFile is not null)
            {
                await lockFile.DisposeAsync().ConfigureAwait(false);
            }
            if (e is SqliteException or IOException or UnauthorizedAccessException)
            {
                throw new StoreException($"{description}: {e.Message}", e);
            }
            throw;
        }
    }

    private static FileStream OpenLockFile(string path)
    {
        try
        {
            // FileShare.None takes an exclusive flock(2) on Unix: a second store on the same file, in this process or another, fails here.
            return new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new StoreException($"sqlite:{path} is in use by another store (its lock file {path}.lock is held)", e);
        }
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        using (var meta = Command(_writer, "SELECT revision, compacted FROM meta WHERE id = 0"))
        using (var reader = await meta.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            await reader.ReadAsync(ct).ConfigureAwait(false);
            _revision = reader.GetInt64(0);
            _compacted = reader.GetInt64(1);
        }
        long now = MonotonicMs;
        long wallNow = WallMs;
        using var leases = Command(_writer, "SELECT id, ttl_ms, expires_at_ms FROM leases");
        using var rows = await leases.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await rows.ReadAsync(ct).ConfigureAwait(false))
        {
            long remaining = Math.Max(0, rows.GetInt64(2) - wallNow);
            _leases[rows.GetInt64(0)] = new LeaseState(rows.GetInt64(1), now + remaining);
        }
    }

    public async Task<StoreRecord?> GetAsync(string key, CancellationToken ct = default)
    {
        StoreKeys.CheckKey(key, nameof(key));
        byte[] k = StoreKeys.Encode(key);
        try
        {
            using var read = await AcquireReadAsync(ct).ConfigureAwait(false);
            using var cmd = Command(read.Connection, "SELECT value, mod_revision, create_revision, lease FROM kv WHERE key = $k");
            cmd.Parameters.AddWithValue("$k", k);
            using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }
            return new StoreRecord(key, reader.GetFieldValue<byte[]>(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
    }

    public async Task<StoreList> ListAsync(string prefix, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        byte[] lo = StoreKeys.Encode(prefix);
        byte[]? hi = StoreKeys.PrefixEnd(lo);
        try
        {
            using var read = await AcquireReadAsync(ct).ConfigureAwait(false);
            // One read transaction: the records and the revision come from the same WAL snapshot.
            using var tx = read.Connection.BeginTransaction(deferred: true);
            long revision;
            using (var meta = Command(read.Connection, "SELECT revision FROM meta WHERE id = 0", tx))
            {
                revision = (long)(await meta.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
            var records = new List<StoreRecord>();
            using (var cmd = Command(read.Connection, "SELECT key, value, mod_revision, create_revision, lease FROM kv WHERE " + RangeCondition(hi) + " ORDER BY key", tx))
            {
                AddRange(cmd, lo, hi);
                using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    records.Add(new StoreRecord(
                        StoreKeys.Decode(reader.GetFieldValue<byte[]>(0)), reader.GetFieldValue<byte[]>(1),
                        reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
                }
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return new StoreList(records, revision);
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
    }

    public async Task<long?> PutAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, long lease = 0, CancellationToken ct = default)
    {
        StoreKeys.CheckKey(key, nameof(key));
        StoreKeys.CheckPutRevision(expectedRevision, nameof(expectedRevision));
        ArgumentOutOfRangeException.ThrowIfNegative(lease);
        byte[] k = StoreKeys.Encode(key);
        byte[] v = ToArray(value);
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            if (lease != 0 && !await LeaseAliveLockedAsync(lease).ConfigureAwait(false))
            {
                throw new StoreLeaseNotFoundException(lease);
            }
            using var tx = _writer.BeginTransaction();
            var current = await ReadRevisionsLockedAsync(tx, k).ConfigureAwait(false);
            if (!Matches(current?.Mod, expectedRevision))
            {
                return null;
            }
            long revision = _revision + 1;
            using (var upsert = Command(_writer, """
                INSERT INTO kv(key, value, mod_revision, create_revision, lease) VALUES ($k, $v, $r, $c, $l)
                ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, lease = excluded.lease
                """, tx))
            {
                upsert.Parameters.AddWithValue("$k", k);
                upsert.Parameters.AddWithValue("$v", v);
                upsert.Parameters.AddWithValue("$r", revision);
                upsert.Parameters.AddWithValue("$c", current?.Create ?? revision);
                upsert.Parameters.AddWithValue("$l", lease);
                await upsert.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }
            await AppendHistoryLockedAsync(tx, revision, k, StoreEventType.Put, v, current?.Create ?? revision, lease).ConfigureAwait(false);
            long compacted = await FinishLockedAsync(tx, revision, _compacted).ConfigureAwait(false);
            await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            Committed(revision, compacted);
            return revision;
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<bool> DeleteAsync(string key, long expectedRevision, CancellationToken ct = default)
    {
        StoreKeys.CheckKey(key, nameof(key));
        StoreKeys.CheckDeleteRevision(expectedRevision, nameof(expectedRevision));
        byte[] k = StoreKeys.Encode(key);
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            using var tx = _writer.BeginTransaction();
            var current = await ReadRevisionsLockedAsync(tx, k).ConfigureAwait(false);
            if (current is null || !Matches(current.Value.Mod, expectedRevision))
            {
                return false;
            }
            long revision = _revision + 1;
            await DeleteRecordLockedAsync(tx, revision, k).ConfigureAwait(false);
            long compacted = await FinishLockedAsync(tx, revision, _compacted).ConfigureAwait(false);
            await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            Committed(revision, compacted);
            return true;
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// See <see cref="IStore.WatchAsync"/>. A <paramref name="fromRevision"/> of 0 or less starts after the current revision.
    /// Cancelling <paramref name="ct"/> ends the enumeration with <see cref="OperationCanceledException"/>; disposing
    /// the store ends it with <see cref="ObjectDisposedException"/>.
    /// </summary>
    public async IAsyncEnumerable<StoreEvent> WatchAsync(string prefix, long fromRevision, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        byte[] lo = StoreKeys.Encode(prefix);
        byte[]? hi = StoreKeys.PrefixEnd(lo);
        long next = fromRevision;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            ThrowIfDisposed();
            // Taken before reading: a commit after the read completes this signal, so no change is slept through.
            Task committed = Volatile.Read(ref _committed).Task;
            var batch = await ReadHistoryAsync(lo, hi, next, ct).ConfigureAwait(false);
            foreach (var change in batch.Events)
            {
                yield return change;
            }
            next = batch.Next;
            if (!batch.More)
            {
                await committed.WaitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<HistoryBatch> ReadHistoryAsync(byte[] lo, byte[]? hi, long next, CancellationToken ct)
    {
        try
        {
            using var read = await AcquireReadAsync(ct).ConfigureAwait(false);
            using var tx = read.Connection.BeginTransaction(deferred: true);
            long revision, compacted;
            using (var meta = Command(read.Connection, "SELECT revision, compacted FROM meta WHERE id = 0", tx))
            using (var reader = await meta.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                await reader.ReadAsync(ct).ConfigureAwait(false);
                revision = reader.GetInt64(0);
                compacted = reader.GetInt64(1);
            }
            if (next <= 0)
            {
                next = revision + 1;
            }
            if (next <= compacted)
            {
                throw new StoreCompactedException(next, compacted + 1);
            }
            var events = new List<StoreEvent>();
            using (var cmd = Command(read.Connection,
                "SELECT revision, key, type, value, create_revision, lease FROM history WHERE revision >= $from AND revision <= $to AND "
                + RangeCondition(hi) + $" ORDER BY revision LIMIT {WatchBatch}", tx))
            {
                cmd.Parameters.AddWithValue("$from", next);
                cmd.Parameters.AddWithValue("$to", revision);
                AddRange(cmd, lo, hi);
                using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var type = (StoreEventType)reader.GetInt32(2);
                    events.Add(new StoreEvent(type, new StoreRecord(
                        StoreKeys.Decode(reader.GetFieldValue<byte[]>(1)), reader.GetFieldValue<byte[]>(3),
                        reader.GetInt64(0), reader.GetInt64(4), reader.GetInt64(5))));
                }
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            bool more = events.Count == WatchBatch;
            // Every revision up to the snapshot's has been looked at: the next read starts after it (or at a future start).
            long after = more ? events[^1].Record.Revision + 1 : Math.Max(next, revision + 1);
            return new HistoryBatch(events, after, more);
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
    }

    /// <summary>
    /// Grants a lease of <paramref name="ttl"/> (rounded up to whole milliseconds). It ends when its deadline passes
    /// without a keep-alive, noticed within <see cref="SqliteStoreOptions.LeaseCheckInterval"/>.
    /// </summary>
    public async Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default)
    {
        StoreKeys.CheckTtl(ttl, nameof(ttl));
        long ttlMs = Math.Max(1, (long)Math.Ceiling(ttl.TotalMilliseconds));
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            using var tx = _writer.BeginTransaction();
            long id;
            using (var insert = Command(_writer, "INSERT INTO leases(ttl_ms, expires_at_ms) VALUES ($t, $e) RETURNING id", tx))
            {
                insert.Parameters.AddWithValue("$t", ttlMs);
                insert.Parameters.AddWithValue("$e", WallMs + ttlMs);
                id = (long)(await insert.ExecuteScalarAsync(CancellationToken.None).ConfigureAwait(false))!;
            }
            await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            _leases[id] = new LeaseState(ttlMs, MonotonicMs + ttlMs);
            return id;
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<bool> KeepAliveAsync(long lease, CancellationToken ct = default)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            if (!await LeaseAliveLockedAsync(lease).ConfigureAwait(false))
            {
                return false;
            }
            var state = _leases[lease];
            long now = MonotonicMs;
            using (var tx = _writer.BeginTransaction())
            {
                using var update = Command(_writer, "UPDATE leases SET expires_at_ms = $e WHERE id = $id", tx);
                update.Parameters.AddWithValue("$e", WallMs + state.TtlMs);
                update.Parameters.AddWithValue("$id", lease);
                await update.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
                await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            }
            state.Deadline = now + state.TtlMs;
            return true;
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Ends the lease now, deleting its records; a lease that has already ended (or never existed) is left alone.</summary>
    public async Task RevokeLeaseAsync(long lease, CancellationToken ct = default)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            if (_leases.ContainsKey(lease))
            {
                await EndLeaseLockedAsync(lease).ConfigureAwait(false);
            }
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Drops the history of every revision before <paramref name="revision"/> (as etcd's compact does): watches from older revisions then throw <see cref="StoreCompactedException"/>.</summary>
    internal async Task CompactAsync(long revision, CancellationToken ct = default)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            long compacted = Math.Max(_compacted, Math.Min(revision, _revision + 1) - 1);
            using var tx = _writer.BeginTransaction();
            compacted = await FinishLockedAsync(tx, _revision, compacted).ConfigureAwait(false);
            await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            _compacted = compacted;
        }
        catch (SqliteException e)
        {
            throw Failed(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _expiryLoop.ConfigureAwait(false);
        // Wait out a write in flight; later writers find the store disposed. The lock stays usable for them.
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            _readers?.Dispose();
            await _writer.DisposeAsync().ConfigureAwait(false);
            if (_lockFile is not null)
            {
                await _lockFile.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _writeLock.Release();
        }
        // Wake every watcher: each finds the store disposed.
        Volatile.Read(ref _committed).TrySetResult();
        _stopping.Dispose();
    }

    private async Task ExpireLeasesLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.LeaseCheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                await _writeLock.WaitAsync(_stopping.Token).ConfigureAwait(false);
                try
                {
                    if (_disposed != 0)
                    {
                        return;
                    }
                    long now = MonotonicMs;
                    foreach (long lease in _leases.Where(l => l.Value.Deadline <= now).Select(l => l.Key).ToList())
                    {
                        await EndLeaseLockedAsync(lease).ConfigureAwait(false);
                    }
                }
                catch (SqliteException)
                {
                    // The disk refused the deletion; the lease stays due and the next tick tries again.
                }
                finally
                {
                    _writeLock.Release();
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Whether the lease is live; one whose deadline has passed is ended now (its records deleted).</summary>
    private async Task<bool> LeaseAliveLockedAsync(long lease)
    {
        if (!_leases.TryGetValue(lease, out var state))
        {
            return false;
        }
        if (state.Deadline > MonotonicMs)
        {
            return true;
        }
        await EndLeaseLockedAsync(lease).ConfigureAwait(false);
        return false;
    }

    private async Task EndLeaseLockedAsync(long lease)
    {
        using var tx = _writer.BeginTransaction();
        var keys = new List<byte[]>();
        using (var select = Command(_writer, "SELECT key FROM kv WHERE lease = $l ORDER BY key", tx))
        {
            select.Parameters.AddWithValue("$l", lease);
            using var reader = await select.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
            while (await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                keys.Add(reader.GetFieldValue<byte[]>(0));
            }
        }
        long revision = _revision;
        foreach (byte[] key in keys)
        {
            await DeleteRecordLockedAsync(tx, ++revision, key).ConfigureAwait(false);
        }
        using (var delete = Command(_writer, "DELETE FROM leases WHERE id = $l", tx))
        {
            delete.Parameters.AddWithValue("$l", lease);
            await delete.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        long compacted = keys.Count > 0 ? await FinishLockedAsync(tx, revision, _compacted).ConfigureAwait(false) : _compacted;
        await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        _leases.Remove(lease);
        if (keys.Count > 0)
        {
            Committed(revision, compacted);
        }
    }

    private async Task<(long Mod, long Create)?> ReadRevisionsLockedAsync(SqliteTransaction tx, byte[] key)
    {
        using var cmd = Command(_writer, "SELECT mod_revision, create_revision FROM kv WHERE key = $k", tx);
        cmd.Parameters.AddWithValue("$k", key);
        using var reader = await cmd.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
        return await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false) ? (reader.GetInt64(0), reader.GetInt64(1)) : null;
    }

    private async Task DeleteRecordLockedAsync(SqliteTransaction tx, long revision, byte[] key)
    {
        using (var delete = Command(_writer, "DELETE FROM kv WHERE key = $k", tx))
        {
            delete.Parameters.AddWithValue("$k", key);
            await delete.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        await AppendHistoryLockedAsync(tx, revision, key, StoreEventType.Delete, [], 0, 0).ConfigureAwait(false);
    }

    private async Task AppendHistoryLockedAsync(SqliteTransaction tx, long revision, byte[] key, StoreEventType type, byte[] value, long createRevision, long lease)
    {
        using var insert = Command(_writer, "INSERT INTO history(revision, key, type, value, create_revision, lease) VALUES ($r, $k, $t, $v, $c, $l)", tx);
        insert.Parameters.AddWithValue("$r", revision);
        insert.Parameters.AddWithValue("$k", key);
        insert.Parameters.AddWithValue("$t", (int)type);
        insert.Parameters.AddWithValue("$v", value);
        insert.Parameters.AddWithValue("$c", createRevision);
        insert.Parameters.AddWithValue("$l", lease);
        await insert.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Records the new store revision and drops the history that falls out of the kept window (or before <paramref name="compacted"/>); returns the new compacted revision.</summary>
    private async Task<long> FinishLockedAsync(SqliteTransaction tx, long revision, long compacted)
    {
        compacted = Math.Max(compacted, revision - _options.HistoryRevisions);
        if (compacted > _compacted)
        {
            using var trim = Command(_writer, "DELETE FROM history WHERE revision <= $c", tx);
            trim.Parameters.AddWithValue("$c", compacted);
            await trim.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        using var meta = Command(_writer, "UPDATE meta SET revision = $r, compacted = $c WHERE id = 0", tx);
        meta.Parameters.AddWithValue("$r", revision);
        meta.Parameters.AddWithValue("$c", compacted);
        await meta.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        return compacted;
    }

    /// <summary>After a commit: the new revision is visible to every reader; wake the watchers.</summary>
    private void Committed(long revision, long compacted)
    {
        _revision = revision;
        _compacted = compacted;
        Interlocked.Exchange(ref _committed, NewSignal()).TrySetResult();
    }

    private async Task<ReadHandle> AcquireReadAsync(CancellationToken ct)
    {
        ThrowIfDisposed();
        if (_readers is not null)
        {
            return new ReadHandle(this, await _readers.RentAsync(ct).ConfigureAwait(false), pooled: true);
        }
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        if (_disposed != 0)
        {
            _writeLock.Release();
            ThrowIfDisposed();
        }
        return new ReadHandle(this, _writer, pooled: false);
    }

    private readonly struct ReadHandle(SqliteStore store, SqliteConnection connection, bool pooled) : IDisposable
    {
        public SqliteConnection Connection => connection;

        public void Dispose()
        {
            if (pooled)
            {
                store._readers!.Return(connection);
            }
            else
            {
                store._writeLock.Release();
            }
        }
    }

    private sealed class LeaseState(long ttlMs, long deadline)
    {
        public long TtlMs { get; } = ttlMs;

        /// <summary>On <see cref="MonotonicMs"/>.</summary>
        public long Deadline { get; set; } = deadline;
    }

    private sealed record HistoryBatch(List<StoreEvent> Events, long Next, bool More);

    private static bool Matches(long? currentRevision, long expectedRevision) => expectedRevision switch
    {
        Revision.Any => true,
        Revision.Absent => currentRevision is null,
        _ => currentRevision == expectedRevision,
    };

    private static string RangeCondition(byte[]? hi) => hi is null ? "key >= $lo" : "key >= $lo AND key < $hi";

    private static void AddRange(SqliteCommand cmd, byte[] lo, byte[]? hi)
    {
        cmd.Parameters.AddWithValue("$lo", lo);
        if (hi is not null)
        {
            cmd.Parameters.AddWithValue("$hi", hi);
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        var cmd = connection.CreateCommand();
#pragma warning disable CA2100 // the SQL is built from constants only; values are parameters
        cmd.CommandText = sql;
#pragma warning restore CA2100
        cmd.Transaction = tx;
        return cmd;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken ct, SqliteTransaction? tx = null)
    {
        using var cmd = Command(connection, sql, tx);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<long> ScalarAsync(SqliteConnection connection, string sql, CancellationToken ct)
    {
        using var cmd = Command(connection, sql);
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static byte[] ToArray(ReadOnlyMemory<byte> value) =>
        MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static long MonotonicMs => Environment.TickCount64;

    private static long WallMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private StoreException Failed(SqliteException e) => new($"{Description}: {e.Message}", e);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);
}

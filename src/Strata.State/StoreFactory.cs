using Strata.State.Etcd;
using Strata.State.Sqlite;

namespace Strata.State;

/// <summary>Opens the store a <c>--store</c> option names.</summary>
public static class StoreFactory
{
    /// <summary>
    /// Opens <paramref name="spec"/>: <c>sqlite:PATH</c> (a file, created if missing; <c>sqlite::memory:</c> for a
    /// private in-memory store) or <c>etcd://HOST:PORT[,HOST:PORT…]</c> (plain-text gRPC to those endpoints).
    /// Throws <see cref="ArgumentException"/> for any other spec, <see cref="StoreException"/> when the store cannot be opened.
    /// </summary>
    public static async Task<IStore> OpenAsync(string spec, CancellationToken ct = default)
    {
        var parsed = Parse(spec);
        return parsed.SqlitePath is { } path
            ? await SqliteStore.OpenAsync(path, ct: ct).ConfigureAwait(false)
            : await EtcdStore.ConnectAsync(parsed.EtcdEndpoints!, ct: ct).ConfigureAwait(false);
    }

    /// <summary>The SQLite path, or the etcd endpoints as dotnet-etcd takes them ("http://h:p,http://h:p").</summary>
    internal readonly record struct StoreSpec(string? SqlitePath, string? EtcdEndpoints);

    internal static StoreSpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        const string Sqlite = "sqlite:", Etcd = "etcd://";
        if (spec.StartsWith(Sqlite, StringComparison.Ordinal) && spec.Length > Sqlite.Length && !string.IsNullOrWhiteSpace(spec[Sqlite.Length..]))
        {
            return new StoreSpec(spec[Sqlite.Length..], null);
        }
        if (spec.StartsWith(Etcd, StringComparison.Ordinal))
        {
            var endpoints = new List<string>();
            foreach (string hostPort in spec[Etcd.Length..].Split(','))
            {
                if (!Uri.TryCreate("http://" + hostPort.Trim(), UriKind.Absolute, out var uri) || !StoreKeys.HasExplicitPort(hostPort.Trim())
                    || uri.Host.Length == 0 || uri.UserInfo.Length != 0 || uri.PathAndQuery != "/" || uri.Fragment.Length != 0
                    || hostPort.Trim().EndsWith('/'))
                {
                    throw Invalid(spec);
                }
                endpoints.Add("http://" + hostPort.Trim());
            }
            return new StoreSpec(null, string.Join(",", endpoints));
        }
        throw Invalid(spec);
    }

    private static ArgumentException Invalid(string spec) => new($"--store: '{spec}' is not sqlite:PATH or etcd://HOST:PORT");
}

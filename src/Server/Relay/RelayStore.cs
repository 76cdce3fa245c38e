using System.Globalization;
using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;
using Microsoft.Data.Sqlite;

namespace JP1Dist.Server.Relay;

/// <summary>A lower client as the relay knows it: where it sits, what it is, and the hash of its credential.</summary>
public sealed record LowerHost(Guid Id, string Name, Guid ParentId, HostKind Kind, string CredentialHash);

/// <summary>One queued entry of the outbox: its number and what goes upward.</summary>
public sealed record OutboxEntry(long Seq, RelayBatchEntry Entry);

/// <summary>A package this relay stores for a transfer-to-relay job, until its expiry.</summary>
public sealed record StoredPackage(string ManifestId, string Manifest, string Signature, DateTime? Until);

/// <summary>
/// The relay's own store, a SQLite file: the hosts below it (so it authenticates them without asking upward), the last
/// work snapshot from its higher system (so it serves its clients while that system is unreachable), the outbox of
/// reports and facts not yet acknowledged upward, and the packages stored for transfer-to-relay jobs. Writes are
/// serialized in this process; each is one transaction.
/// </summary>
public sealed class RelayStore : IDisposable
{
    private readonly string _connectionString;
    private readonly string _path;
    private readonly SemaphoreSlim _write = new(1, 1);

    public RelayStore(string path)
    {
        _path = Path.GetFullPath(path);
        _enqueues = new GroupFlush<PendingEnqueue>(256, FlushEnqueuesAsync);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        CreateOwnerOnly(path);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        using var connection = Open();
        Execute(connection, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS hosts(id TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT NOT NULL, kind INTEGER NOT NULL, credential_hash TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS snapshot(id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS stored(manifest_id TEXT PRIMARY KEY, manifest TEXT NOT NULL, signature TEXT NOT NULL, until TEXT NULL);
            CREATE TABLE IF NOT EXISTS revoked(host_id TEXT NOT NULL, credential_hash TEXT NOT NULL, PRIMARY KEY(host_id, credential_hash));
            CREATE TABLE IF NOT EXISTS wake_sent(order_id TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
            """);
    }

    /// <summary>
    /// The store holds the credential hashes of every host below the relay: owner-only. SQLite takes an empty file as a new
    /// database and gives its -wal and -shm files the database file's mode, so creating the file first (owner-only from its
    /// creation) covers all three; files an earlier version created are narrowed.
    /// </summary>
    private static void CreateOwnerOnly(string path)
    {
        if (!File.Exists(path))
        {
            try
            {
                OwnerOnlyFiles.CreateNew(path).Dispose();
            }
            catch (IOException) when (File.Exists(path))
            {
                // Created meanwhile: narrowed below like any existing file.
            }
        }
        foreach (var file in new[] { path, path + "-wal", path + "-shm" })
        {
            OwnerOnlyFiles.Tighten(file);
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // FULL: a commit is on disk before the relay answers a client; the outbox then survives even a power loss.
        Execute(connection, "PRAGMA busy_timeout=30000; PRAGMA synchronous=FULL;");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// One write transaction. SQLite's own faults of the volume (full, read-only, I/O) become a <see cref="LocalFaultException"/>
    /// naming the store, so the relay says what it is instead of taking it for its higher system's failure or ending.
    /// </summary>
    private async Task WriteAsync(Action<SqliteConnection, SqliteTransaction> write, CancellationToken cancellationToken)
    {
        await _write.WaitAsync(cancellationToken);
        try
        {
            using var connection = Open();
            using var transaction = connection.BeginTransaction();
            write(connection, transaction);
            transaction.Commit();
        }
        catch (SqliteException e) when (FaultOf(e) is { } fault)
        {
            throw new LocalFaultException(fault, e);
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>The local fault an SQLite result code stands for: SQLITE_FULL, SQLITE_READONLY, SQLITE_PERM, SQLITE_IOERR, SQLITE_CANTOPEN.</summary>
    private LocalFault? FaultOf(SqliteException e) => (e.SqliteErrorCode & 0xFF) switch
    {
        13 => new LocalFault(LocalFaultKind.DiskFull, _path, "writing the relay's store") { FreeBytes = LocalFault.FreeSpace(_path) },
        3 or 8 => new LocalFault(LocalFaultKind.PermissionDenied, _path, "writing the relay's store", e.Message),
        10 or 14 => new LocalFault(LocalFaultKind.StorageFailed, _path, "writing the relay's store", e.Message),
        _ => null,
    };

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }

    public void Dispose() => _write.Dispose();

    /// <summary>Every host below this relay.</summary>
    public IReadOnlyList<LowerHost> LoadHosts()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT id, name, parent, kind, credential_hash FROM hosts");
        using var reader = command.ExecuteReader();
        var hosts = new List<LowerHost>();
        while (reader.Read())
        {
            hosts.Add(new LowerHost(Guid.Parse(reader.GetString(0)), reader.GetString(1), Guid.Parse(reader.GetString(2)), (HostKind)reader.GetInt32(3), reader.GetString(4)));
        }
        return hosts;
    }

    /// <summary>Adds a host, or updates one that registered again (a new credential, perhaps a new place in the tree).</summary>
    public Task SaveHostAsync(LowerHost host, CancellationToken cancellationToken) => WriteAsync((connection, transaction) =>
    {
        using var command = Command(connection, transaction, """
            INSERT INTO hosts(id, name, parent, kind, credential_hash) VALUES ($id, $name, $parent, $kind, $hash)
            ON CONFLICT(id) DO UPDATE SET name = excluded.name, parent = excluded.parent, kind = excluded.kind, credential_hash = excluded.credential_hash
            """, ("$id", host.Id.ToString()), ("$name", host.Name), ("$parent", host.ParentId.ToString()), ("$kind", (int)host.Kind), ("$hash", host.CredentialHash));
        command.ExecuteNonQuery();
    }, cancellationToken);

    /// <summary>Every credential the manager revoked that this relay has learned of.</summary>
    public IReadOnlyList<RevokedCredential> LoadRevoked()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT host_id, credential_hash FROM revoked ORDER BY host_id, credential_hash");
        using var reader = command.ExecuteReader();
        var revoked = new List<RevokedCredential>();
        while (reader.Read())
        {
            revoked.Add(new RevokedCredential(Guid.Parse(reader.GetString(0)), reader.GetString(1)));
        }
        return revoked;
    }

    /// <summary>
    /// Records revoked credentials for good and forgets every host that holds one of them, in one transaction: the relay
    /// refuses them from then on, even after a restart and whatever later snapshots say.
    /// </summary>
    public Task SaveRevokedAsync(IReadOnlyList<RevokedCredential> revoked, CancellationToken cancellationToken) => WriteAsync((connection, transaction) =>
    {
        foreach (var credential in revoked)
        {
            using var insert = Command(connection, transaction, "INSERT OR IGNORE INTO revoked(host_id, credential_hash) VALUES ($id, $hash)",
                ("$id", credential.HostId.ToString()), ("$hash", credential.CredentialHash));
            insert.ExecuteNonQuery();
            using var forget = Command(connection, transaction, "DELETE FROM hosts WHERE id = $id AND credential_hash = $hash",
                ("$id", credential.HostId.ToString()), ("$hash", credential.CredentialHash));
            forget.ExecuteNonQuery();
        }
    }, cancellationToken);

    /// <summary>The last snapshot of work received from the higher system, or null.</summary>
    public RelayWorkResponse? LoadSnapshot()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT json FROM snapshot WHERE id = 1");
        return command.ExecuteScalar() is string json ? JsonSerializer.Deserialize<RelayWorkResponse>(json, ProtocolJson.Options) : null;
    }

    public Task SaveSnapshotAsync(RelayWorkResponse snapshot, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(snapshot, ProtocolJson.Options);
        return WriteAsync((connection, transaction) =>
        {
            using var command = Command(connection, transaction, "INSERT INTO snapshot(id, json) VALUES (1, $json) ON CONFLICT(id) DO UPDATE SET json = excluded.json", ("$json", json));
            command.ExecuteNonQuery();
        }, cancellationToken);
    }

    /// <summary>
    /// Queues entries for the higher system, in order, in one transaction; returns their numbers. <paramref name="beforeCommit"/>
    /// sees the numbers before anyone else can read the rows (so an answer cannot arrive before its waiter exists).
    /// Entries queued at the same time by many clients share one commit (group commit): each commit is made durable
    /// on disk, and sharing it keeps a hundred clients reporting at once from costing a hundred disk flushes.
    /// </summary>
    public async Task<IReadOnlyList<long>> EnqueueAsync(IReadOnlyList<RelayBatchEntry> entries, CancellationToken cancellationToken, Action<IReadOnlyList<long>>? beforeCommit = null)
    {
        cancellationToken.ThrowIfCancellationRequested(); // once queued, the entries are written whatever the caller does
        var pending = new PendingEnqueue(entries, beforeCommit, new TaskCompletionSource<IReadOnlyList<long>>(TaskCreationOptions.RunContinuationsAsynchronously));
        // The first caller that finds nobody writing writes what has queued up (its own entries and others').
        await _enqueues.AddAsync(pending);
        return await pending.Done.Task;
    }

    private sealed record PendingEnqueue(IReadOnlyList<RelayBatchEntry> Entries, Action<IReadOnlyList<long>>? BeforeCommit, TaskCompletionSource<IReadOnlyList<long>> Done);

    private readonly GroupFlush<PendingEnqueue> _enqueues;

    private async Task FlushEnqueuesAsync(IReadOnlyList<PendingEnqueue> batch)
    {
        var seqs = new List<long>[batch.Count];
        try
        {
            await WriteAsync((connection, transaction) =>
            {
                using var command = Command(connection, transaction, "INSERT INTO outbox(json) VALUES ($json) RETURNING seq", ("$json", ""));
                for (var i = 0; i < batch.Count; i++)
                {
                    seqs[i] = new List<long>(batch[i].Entries.Count);
                    foreach (var entry in batch[i].Entries)
                    {
                        command.Parameters["$json"].Value = JsonSerializer.Serialize(entry with { Seq = 0 }, ProtocolJson.Options);
                        seqs[i].Add(Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture));
                    }
                    batch[i].BeforeCommit?.Invoke(seqs[i]);
                }
            }, CancellationToken.None);
        }
        catch (Exception e)
        {
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(e);
            }
            return;
        }
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Done.TrySetResult(seqs[i]);
        }
    }

    /// <summary>
    /// The oldest queued entries, at most <paramref name="max"/> and, but for the first, at most
    /// <paramref name="maxJsonChars"/> characters of JSON together (a batch must stay below the body limit upward).
    /// </summary>
    public IReadOnlyList<OutboxEntry> PeekOutbox(int max, long maxJsonChars = long.MaxValue)
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT seq, json FROM outbox ORDER BY seq LIMIT $max", ("$max", max));
        using var reader = command.ExecuteReader();
        var entries = new List<OutboxEntry>();
        long chars = 0;
        while (reader.Read())
        {
            var seq = reader.GetInt64(0);
            var json = reader.GetString(1);
            chars += json.Length;
            if (entries.Count > 0 && chars > maxJsonChars)
            {
                break;
            }
            var entry = JsonSerializer.Deserialize<RelayBatchEntry>(json, ProtocolJson.Options)!;
            entries.Add(new OutboxEntry(seq, entry with { Seq = seq }));
        }
        return entries;
    }

    /// <summary>How many entries wait to go upward.</summary>
    public long OutboxCount()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT COUNT(*) FROM outbox");
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>Removes entries the higher system has answered.</summary>
    public Task RemoveFromOutboxAsync(IReadOnlyList<long> seqs, CancellationToken cancellationToken) => WriteAsync((connection, transaction) =>
    {
        foreach (var seq in seqs)
        {
            using var command = Command(connection, transaction, "DELETE FROM outbox WHERE seq = $seq", ("$seq", seq));
            command.ExecuteNonQuery();
        }
    }, cancellationToken);

    /// <summary>The wake orders this relay has sent (or failed to send), with their expiry: never sent again, also after a restart.</summary>
    public IReadOnlyDictionary<Guid, DateTime> LoadWakeSent()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT order_id, expires_at FROM wake_sent");
        using var reader = command.ExecuteReader();
        var sent = new Dictionary<Guid, DateTime>();
        while (reader.Read())
        {
            sent[Guid.Parse(reader.GetString(0))] = DateTime.Parse(reader.GetString(1), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        }
        return sent;
    }

    /// <summary>
    /// Records that a wake order was acted on and queues the relay's report of it for the higher system, in one transaction
    /// (so the report goes upward exactly when the order counts as sent); orders expired before <paramref name="forgetBefore"/>
    /// are forgotten, which bounds the table. False, with nothing queued, when the order was recorded already.
    /// </summary>
    public async Task<bool> RecordWakeSentAsync(Guid orderId, DateTime expiresAt, RelayBatchEntry report, DateTime forgetBefore, CancellationToken cancellationToken)
    {
        var recorded = false;
        var json = JsonSerializer.Serialize(report with { Seq = 0 }, ProtocolJson.Options);
        await WriteAsync((connection, transaction) =>
        {
            using (var forget = Command(connection, transaction, "DELETE FROM wake_sent WHERE expires_at < $before",
                ("$before", forgetBefore.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))))
            {
                forget.ExecuteNonQuery();
            }
            using var insert = Command(connection, transaction, "INSERT OR IGNORE INTO wake_sent(order_id, expires_at) VALUES ($id, $expires)",
                ("$id", orderId.ToString()), ("$expires", expiresAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)));
            recorded = insert.ExecuteNonQuery() == 1;
            if (recorded)
            {
                using var queue = Command(connection, transaction, "INSERT INTO outbox(json) VALUES ($json)", ("$json", json));
                queue.ExecuteNonQuery();
            }
        }, cancellationToken);
        return recorded;
    }

    /// <summary>Every package stored for a transfer-to-relay job.</summary>
    public IReadOnlyList<StoredPackage> LoadStored()
    {
        using var connection = Open();
        using var command = Command(connection, null, "SELECT manifest_id, manifest, signature, until FROM stored");
        using var reader = command.ExecuteReader();
        var stored = new List<StoredPackage>();
        while (reader.Read())
        {
            stored.Add(new StoredPackage(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : DateTime.Parse(reader.GetString(3), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal)));
        }
        return stored;
    }

    /// <summary>Stores (or re-stores, with a new expiry) a package.</summary>
    public Task SaveStoredAsync(StoredPackage package, CancellationToken cancellationToken) => WriteAsync((connection, transaction) =>
    {
        using var command = Command(connection, transaction, """
            INSERT INTO stored(manifest_id, manifest, signature, until) VALUES ($id, $manifest, $signature, $until)
            ON CONFLICT(manifest_id) DO UPDATE SET manifest = excluded.manifest, signature = excluded.signature, until = excluded.until
            """, ("$id", package.ManifestId), ("$manifest", package.Manifest), ("$signature", package.Signature),
            ("$until", package.Until?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)));
        command.ExecuteNonQuery();
    }, cancellationToken);

    public Task RemoveStoredAsync(string manifestId, CancellationToken cancellationToken) => WriteAsync((connection, transaction) =>
    {
        using var command = Command(connection, transaction, "DELETE FROM stored WHERE manifest_id = $id", ("$id", manifestId));
        command.ExecuteNonQuery();
    }, cancellationToken);
}

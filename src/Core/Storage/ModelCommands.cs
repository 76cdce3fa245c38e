using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace JP1Dist.Core.Storage;

/// <summary>
/// Statements on one entity's table written from the model (its table and columns, each value bound through its
/// property's type mapping and converter, as EF Core would bind it) and kept for as long as this lives, one command per
/// form, so that the database prepares each once however many times a batch runs it. For the hot statements of a shared
/// commit, which EF Core would otherwise send one at a time through its query pipeline (an expression tree walked,
/// looked up in the query cache and its SQL prepared again on every call). In the context's current transaction.
/// </summary>
internal sealed class ModelCommands<TEntity>(DistDbContext db) : IDisposable
{
    // The statements' parameter names as the provider writes them, once per provider and name: the names are the code's
    // own few, and each report's statement binds a dozen.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type Provider, string Name), string> ParameterNames = new();

    private readonly Dictionary<int, DbCommand> _commands = [];
    private readonly IEntityType _entity = db.Model.FindEntityType(typeof(TEntity))!;
    private readonly ISqlGenerationHelper _sql = db.GetService<ISqlGenerationHelper>();

    /// <summary>The entity's table, quoted for the provider.</summary>
    public string Table => _sql.DelimitIdentifier(_entity.GetTableName()!, _entity.GetSchema());

    /// <summary>A property's column, quoted for the provider.</summary>
    public string Column(string property) => _sql.DelimitIdentifier(_entity.FindProperty(property)!.GetColumnName());

    /// <summary>A parameter as the statement's text names it.</summary>
    public string Parameter(string name) => _sql.GenerateParameterNamePlaceholder(name);

    /// <summary>
    /// The command of form <paramref name="form"/>, made with <paramref name="text"/>'s statement the first time, with no
    /// parameters: the caller binds this run's values (<see cref="Bind"/>) and runs it (<see cref="ExecuteAsync"/>).
    /// </summary>
    public DbCommand For(int form, Func<ModelCommands<TEntity>, string> text)
    {
        if (!_commands.TryGetValue(form, out var command))
        {
            command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = text(this);
            _commands[form] = command;
        }
        command.Parameters.Clear();
        return command;
    }

    /// <summary>Binds <paramref name="value"/> as parameter <paramref name="name"/>, mapped as <paramref name="property"/> is.</summary>
    /// <remarks>A new parameter each time, made by the property's mapping (its converter and provider type); only its name is kept.</remarks>
    public void Bind(DbCommand command, string name, string property, object? value) =>
        command.Parameters.Add(_entity.FindProperty(property)!.GetRelationalTypeMapping().CreateParameter(command,
            ParameterNames.GetOrAdd((_sql.GetType(), name), static (key, sql) => sql.GenerateParameterName(key.Name), _sql), value));

    /// <summary>Runs <paramref name="command"/> in the context's transaction, if it has one, opening its connection if it is closed; the rows it changed.</summary>
    public async Task<int> ExecuteAsync(DbCommand command, CancellationToken cancellationToken)
    {
        if (command.Connection!.State != System.Data.ConnectionState.Open)
        {
            await db.Database.OpenConnectionAsync(cancellationToken);
        }
        command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Runs <paramref name="batch"/> in the context's transaction, if it has one, opening its connection if it is closed.</summary>
    public async Task ExecuteBatchAsync(DbBatch batch, CancellationToken cancellationToken)
    {
        if (batch.Connection is null)
        {
            batch.Connection = db.Database.GetDbConnection();
        }
        if (batch.Connection.State != System.Data.ConnectionState.Open)
        {
            await db.Database.OpenConnectionAsync(cancellationToken);
        }
        batch.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }
    }
}

using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Storage;

/// <summary>
/// Writes many rows with multi-row INSERT statements instead of one tracked entity each (10,000 targets are a few hundred
/// statements). Parameters go through EF's type mappings, so ids and times are stored exactly as EF stores them; a
/// null value is written as a NULL literal (EF maps no type for a null parameter), a time as
/// <see cref="StoredTime"/> cuts it.
/// </summary>
public static class MultiRowInsert
{
    /// <summary>
    /// Parameters per statement, about: rows per statement are this divided by the columns that vary. Each named parameter
    /// is bound by a search of the statement's names, so large statements cost more per row: 100,000 targets of seven
    /// varying columns took 15 s at 200 rows a statement (1,408 parameters), 9–10 s at 20 (same run, a loaded machine).
    /// </summary>
    public const int ParametersPerStatement = 200;

    /// <summary>
    /// Inserts <paramref name="rows"/> into <paramref name="table"/>: each row holds the values of <paramref name="columns"/>
    /// in order; <paramref name="shared"/> columns take the same value in every row (one parameter per statement).
    /// </summary>
    public static async Task ExecuteAsync(DistDbContext db, string table, IReadOnlyList<string> columns, IReadOnlyList<object?[]> rows,
        CancellationToken cancellationToken, IReadOnlyList<(string Column, object Value)>? shared = null)
    {
        shared ??= [];
        var head = $"INSERT INTO \"{table}\" ({string.Join(", ", shared.Select(s => s.Column).Concat(columns).Select(c => $"\"{c}\""))}) VALUES ";
        var rowsPerStatement = Math.Max(1, ParametersPerStatement / Math.Max(1, columns.Count));
        for (var start = 0; start < rows.Count; start += rowsPerStatement)
        {
            var sql = new StringBuilder(head);
            var parameters = shared.Select(s => Stored(s.Value)).ToList();
            for (var r = start; r < Math.Min(rows.Count, start + rowsPerStatement); r++)
            {
                sql.Append(r == start ? "(" : ", (");
                for (var s = 0; s < shared.Count; s++)
                {
                    sql.Append(CultureInfo.InvariantCulture, $"{{{s}}}, ");
                }
                var row = rows[r];
                for (var c = 0; c < columns.Count; c++)
                {
                    sql.Append(c == 0 ? "" : ", ");
                    if (row[c] is { } value)
                    {
                        sql.Append(CultureInfo.InvariantCulture, $"{{{parameters.Count}}}");
                        parameters.Add(Stored(value));
                    }
                    else
                    {
                        sql.Append("NULL");
                    }
                }
                sql.Append(')');
            }
            await db.Database.ExecuteSqlRawAsync(sql.ToString(), parameters, cancellationToken);
        }
    }

    /// <summary>A value as the model stores it: a time cut as its converter cuts it.</summary>
    private static object Stored(object value) => value is DateTime time ? StoredTime.Of(time) : value;
}

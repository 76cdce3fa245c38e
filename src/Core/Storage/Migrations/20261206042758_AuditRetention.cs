using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class AuditRetention : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Retention (the manager's sweep, Core/Audit/AuditRetention.cs) may remove entries older than the retention,
            // which is never below 30 days: the database still refuses any update, and the deletion of any entry younger
            // than 30 days, whatever code runs it. The time is SQLite's clock, in the form EF Core stores At in
            // ('yyyy-MM-dd HH:mm:ss.fffffff', UTC), so the text comparison is the time comparison.
            migrationBuilder.Sql("DROP TRIGGER AuditEntries_AppendOnly_Delete;");
            migrationBuilder.Sql("CREATE TRIGGER AuditEntries_AppendOnly_Delete BEFORE DELETE ON AuditEntries "
                + "WHEN OLD.At >= strftime('%Y-%m-%d %H:%M:%S', 'now', '-30 days') "
                + "BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: only entries older than 30 days may be removed, by the manager''s retention.'); END;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TRIGGER AuditEntries_AppendOnly_Delete;");
            migrationBuilder.Sql("CREATE TRIGGER AuditEntries_AppendOnly_Delete BEFORE DELETE ON AuditEntries BEGIN SELECT RAISE(ABORT, 'The audit log is append-only.'); END;");
        }
    }
}

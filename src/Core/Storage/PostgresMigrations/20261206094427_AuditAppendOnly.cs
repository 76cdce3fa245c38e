using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.PostgresMigrations
{
    /// <summary>
    /// The audit log is append-only in the database itself, as on SQLite: no update ever, and a delete only of entries
    /// older than 30 days (the manager's retention); whatever code asks, the database refuses.
    /// </summary>
    public partial class AuditAppendOnly : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE FUNCTION "AuditEntries_AppendOnly"() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'DELETE' THEN
                        IF OLD."At" < now() - interval '30 days' THEN
                            RETURN OLD;
                        END IF;
                        RAISE EXCEPTION 'The audit log is append-only: only entries older than 30 days may be removed, by the manager''s retention.';
                    END IF;
                    RAISE EXCEPTION 'The audit log is append-only.';
                END
                $$;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER "AuditEntries_AppendOnly_Update" BEFORE UPDATE ON "AuditEntries" FOR EACH ROW EXECUTE FUNCTION "AuditEntries_AppendOnly"();
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER "AuditEntries_AppendOnly_Delete" BEFORE DELETE ON "AuditEntries" FOR EACH ROW EXECUTE FUNCTION "AuditEntries_AppendOnly"();
                """);
            // TRUNCATE skips row triggers: refuse it as a statement.
            migrationBuilder.Sql("""
                CREATE TRIGGER "AuditEntries_AppendOnly_Truncate" BEFORE TRUNCATE ON "AuditEntries" FOR EACH STATEMENT EXECUTE FUNCTION "AuditEntries_AppendOnly"();
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""DROP TRIGGER "AuditEntries_AppendOnly_Truncate" ON "AuditEntries";""");
            migrationBuilder.Sql("""DROP TRIGGER "AuditEntries_AppendOnly_Delete" ON "AuditEntries";""");
            migrationBuilder.Sql("""DROP TRIGGER "AuditEntries_AppendOnly_Update" ON "AuditEntries";""");
            migrationBuilder.Sql("""DROP FUNCTION "AuditEntries_AppendOnly"();""");
        }
    }
}

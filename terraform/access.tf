# Who may read or write which table or view of the dataset (issue 13, least privilege): one role
# per account and table, granted per table (bigquery_iam.tf), never on the dataset, so that no
# account but the pipeline, a replay and the erasure job can rewrite raw events.
#
# Only locals here: the tests evaluate this file offline with `terraform console`.
locals {
  bq_editor = "roles/bigquery.dataEditor"
  bq_viewer = "roles/bigquery.dataViewer"

  # The pipeline writes its sinks, reads the catalog (its enrichment side input) and the
  # deletion requests (the erased-user side input).
  pipeline_table_roles = {
    events            = local.bq_editor
    sessions          = local.bq_editor
    dead_letters      = local.bq_editor
    duplicates        = local.bq_editor
    filtered          = local.bq_editor
    impressions       = local.bq_editor
    video_catalog     = local.bq_viewer
    deletion_requests = local.bq_viewer
  }

  table_roles = {
    dataflow_worker = local.pipeline_table_roles
    # A replay runs the pipeline's sinks and reads dead_letters (bq://...dead_letters), which
    # dataEditor on that table already allows.
    replay = local.pipeline_table_roles
    # The signal job reads events, sessions and impressions through the views its SQL names (a
    # query over a view needs the view and the table under it), the catalog, and the consent
    # refusals in filtered (user_video_affinity); it writes the signal tables and the EM's
    # working table.
    signals = {
      events              = local.bq_viewer
      sessions            = local.bq_viewer
      impressions         = local.bq_viewer
      filtered            = local.bq_viewer
      events_deduplicated = local.bq_viewer
      sessions_final      = local.bq_viewer
      impression_clicks   = local.bq_viewer
      video_catalog       = local.bq_viewer
      propensity_em_cells = local.bq_editor
      position_propensity = local.bq_editor
      video_ctr           = local.bq_editor
      user_video_affinity = local.bq_editor
      video_similarity    = local.bq_editor
      video_trending      = local.bq_editor
    }
    # The erasure job deletes a person's rows from every table that holds them and records its
    # progress in deletion_requests.
    erasure = {
      events              = local.bq_editor
      sessions            = local.bq_editor
      dead_letters        = local.bq_editor
      duplicates          = local.bq_editor
      filtered            = local.bq_editor
      impressions         = local.bq_editor
      user_video_affinity = local.bq_editor
      deletion_requests   = local.bq_editor
    }
  }
}

SELECT set_config('search_path', 'notifications, billing', true);

-- expect: search-path-change 1:34 notifications

"""Sites: the floor-plan registry, control-point fits, scene placement and the site tour."""
